"""CLIP score (Hessel et al. 2021): how well generated images match their captions in a CLIP model's space.

Reported for every network of `evaluate.feature_networks` that is a full CLIP checkpoint (both towers):
100 x the mean over the FID sample's generated images of max(cos(image embedding, its caption's embedding),
0), torchmetrics' convention. It is a text-alignment figure that needs no attribute judge, so it works on any
data; on small synthetic images from a CLIP that never saw such, read it as a relative figure between models.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from t2igan.hub import quiet_loading
from t2igan.vision.families import CLIP_NORM, locate, normalisation

CLIP_TYPES = frozenset({"clip"})
BATCH = 32


def is_clip(source: str, setting: str) -> bool:
    """Does `source` hold both of CLIP's towers (a score needs the text one too)?"""
    from transformers import AutoConfig

    return str(getattr(AutoConfig.from_pretrained(locate(source, setting)), "model_type", "")) in CLIP_TYPES


def clip_score(
    source: str, setting: str, images: np.ndarray, captions: list[str], device: str | torch.device
) -> float:
    """uint8 NHWC `images`, one caption each -> the CLIP score."""
    from transformers import AutoTokenizer, CLIPModel

    directory = locate(source, setting)
    with quiet_loading():
        model: Any = CLIPModel.from_pretrained(directory).eval().to(device)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    size = int(model.config.vision_config.image_size)
    mean, std = (t.to(device) for t in normalisation(directory, CLIP_NORM))
    scores = []
    with torch.inference_mode():
        for start in range(0, len(images), BATCH):
            pixels = (
                torch.from_numpy(images[start : start + BATCH]).to(device).permute(0, 3, 1, 2).float() / 255
            )
            pixels = F.interpolate(
                pixels, size=(size, size), mode="bicubic", align_corners=False, antialias=True
            )
            image = _features(model.get_image_features(pixel_values=(pixels - mean) / std))
            tokens = tokenizer(
                captions[start : start + BATCH], padding=True, truncation=True, return_tensors="pt"
            ).to(device)
            text = _features(model.get_text_features(**tokens))
            scores.append((F.normalize(image, dim=1) * F.normalize(text, dim=1)).sum(dim=1).clamp(min=0))
    return float(100 * torch.cat(scores).mean())


def _features(output: Any) -> torch.Tensor:
    """The projected embedding: a tensor, or (newer transformers) the output's pooled field."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output
