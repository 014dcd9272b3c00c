"""How the sentence embedding enters the GAN: normalised, whatever the encoder's scale."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def normalize_text(text: torch.Tensor) -> torch.Tensor:
    """Zero-mean, unit-variance components, whatever the encoder's scale.

    Unit-norm sentence embeddings have components of about 1/sqrt(dim); fed raw, the matching-aware gradient
    penalty (taken with respect to the sentence) punishes any use of the text so hard that D learns to ignore
    it. The trainer normalises once and takes the penalty with respect to the normalised vector; the
    generator normalises again internally (idempotent), so callers may pass raw encoder output.
    """
    return F.layer_norm(text, text.shape[-1:])
