"""The architecture of one GAN, stored with every checkpoint and exported model so they rebuild alone.

The architecture fields are `t2igan.config.ModelParams` (what params.yaml chooses, defined once); the data
fixes the rest: the image size and the width of the text embedding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import Field, model_validator

from t2igan.config import ModelParams, PowerOfTwo

# What a config saved before these fields existed meant: a model exported then was built without them.
SAVED_BEFORE_THE_FIELD: dict[str, Any] = {
    "d_projection": False,
    "text_in_seed": False,
    "contrastive_dim": 0,
    "word_attention": False,
}


# Fields that shape only the discriminator's input: a generator moves between configs differing in them (a
# champion trained with a plain D fine-tuned with a pretrained backbone in D, and back), its D does not.
DISCRIMINATOR_INPUT = ("d_backbone", "d_backbone_resolution")


class GANConfig(ModelParams):
    image_size: PowerOfTwo = Field(ge=8, description="side of the images")
    text_dim: int = Field(ge=1, description="width of the sentence embedding")
    word_dim: int = Field(0, ge=0, description="width of the token states (word_attention; 0 = none)")

    @classmethod
    def build(cls, model: ModelParams, *, image_size: int, text_dim: int, word_dim: int = 0) -> GANConfig:
        return cls(image_size=image_size, text_dim=text_dim, word_dim=word_dim, **model.model_dump())

    @model_validator(mode="after")
    def _words_have_a_width(self) -> GANConfig:
        if self.word_attention and self.word_dim < 1:
            raise ValueError("word_attention needs the token states' width (word_dim)")
        return self

    @property
    def levels(self) -> int:
        """Number of 2x resampling blocks between 4x4 and the image size."""
        return int(math.log2(self.image_size)) - 2

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GANConfig:
        """A stored config, read as it was meant when written (fields it predates keep their old meaning)."""
        known = {key: data[key] for key in cls.model_fields if key in data}
        return cls(**{**SAVED_BEFORE_THE_FIELD, **known})


def widths(base: int, levels: int) -> list[int]:
    """Channel widths from the coarsest (4x4) level to the finest: base*8, ..., halving, never below base.

    DF-GAN's schedule: the multiplier is min(2**i, 8) counted from the finest level.
    """
    finest_first = [base * min(2**i, 8) for i in range(levels + 1)]
    return finest_first[::-1]
