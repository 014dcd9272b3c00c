"""The architecture of one GAN, stored with every checkpoint and exported model so they rebuild alone."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

NORMS = ("batch", "group", "none")


def normalize_text(text: torch.Tensor) -> torch.Tensor:
    """Zero-mean, unit-variance components, whatever the encoder's scale.

    Unit-norm sentence embeddings have components of about 1/sqrt(dim); fed raw, the matching-aware gradient
    penalty (taken with respect to the sentence) punishes any use of the text so hard that D learns to ignore
    it. The trainer normalises once and takes the penalty with respect to the normalised vector; the
    generator normalises again internally (idempotent), so callers may pass raw encoder output.
    """
    return F.layer_norm(text, text.shape[-1:])


@dataclass(frozen=True)
class GANConfig:
    image_size: int
    text_dim: int
    z_dim: int = 100
    cond_dim: int = 128
    nf: int = 32
    d_nf: int = 32
    g_norm: str = "batch"  # normalisation before each conditional affine: batch | group | none (DF-GAN)
    d_gate_init: float = 1.0  # initial gate of D's residual branches (DF-GAN: 0)
    d_projection: bool = False  # add a projection term to D's joint head
    text_in_seed: bool = False  # the first 4x4 map from noise and sentence (DF-GAN: noise only)
    contrastive_dim: int = 0  # width of D's image-sentence contrastive embedding; 0 = no contrastive head

    def __post_init__(self) -> None:
        if self.image_size < 8 or self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two >= 8, got {self.image_size}")
        if self.g_norm not in NORMS:
            raise ValueError(f"g_norm must be one of {NORMS}, got {self.g_norm!r}")

    @property
    def levels(self) -> int:
        """Number of 2x resampling blocks between 4x4 and the image size."""
        return int(math.log2(self.image_size)) - 2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GANConfig:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def widths(base: int, levels: int) -> list[int]:
    """Channel widths from the coarsest (4x4) level to the finest: base*8, ..., halving, never below base.

    DF-GAN's schedule: the multiplier is min(2**i, 8) counted from the finest level.
    """
    finest_first = [base * min(2**i, 8) for i in range(levels + 1)]
    return finest_first[::-1]
