"""Tiny, randomly initialised vision models of every family `d_backbone` and `feature_networks` read, built
offline from their configs, saved as a user's checkpoint directory would be (`save_pretrained`).

CLIP and SigLIP are the full dual encoders of tests/support/tiny_lms.py (what people download: t2igan takes
their vision tower); the rest are vision models alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support import tiny_lms

WIDTH = 32
KINDS = ("clip", "siglip", "dinov2", "vit", "convnext")


def build(kind: str, directory: Path) -> Path:
    """A tiny model of `kind` (one of KINDS) saved under `directory`; returns its directory."""
    import torch
    import transformers as tf

    if kind in ("clip", "siglip"):
        return tiny_lms.build(kind, directory)
    torch.manual_seed(0)
    vit = {
        "hidden_size": WIDTH,
        "intermediate_size": 2 * WIDTH,
        "num_hidden_layers": 3,
        "num_attention_heads": 2,
    }
    model: Any
    if kind == "dinov2":
        model = tf.Dinov2Model(tf.Dinov2Config(**vit, image_size=32, patch_size=8))
    elif kind == "vit":
        model = tf.ViTModel(tf.ViTConfig(**vit, image_size=32, patch_size=8))
    elif kind == "convnext":
        model = tf.ConvNextModel(tf.ConvNextConfig(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1]))
    else:
        raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")
    target = directory / kind
    model.save_pretrained(target)
    return target
