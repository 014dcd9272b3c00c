"""The architecture of one GAN, stored with every checkpoint and exported model so they rebuild alone."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class GANConfig:
    image_size: int
    text_dim: int
    z_dim: int = 100
    cond_dim: int = 128
    nf: int = 32
    d_nf: int = 32

    def __post_init__(self) -> None:
        if self.image_size < 8 or self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two >= 8, got {self.image_size}")

    @property
    def levels(self) -> int:
        """Number of 2x resampling blocks between 4x4 and the image size."""
        return int(math.log2(self.image_size)) - 2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GANConfig:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def widths(base: int, levels: int) -> list[int]:
    """Channel widths from the coarsest (4x4) level to the finest: base*8, ..., halving, never below base.

    DF-GAN's schedule: the multiplier is min(2**i, 8) counted from the finest level.
    """
    finest_first = [base * min(2**i, 8) for i in range(levels + 1)]
    return finest_first[::-1]
