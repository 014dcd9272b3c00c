"""Hugging Face vision checkpoints as backbones: the family from the checkpoint's own config.

People bring CLIP and SigLIP vision towers (GALIP, StyleGAN-T, GigaGAN judge through CLIP), DINOv2 (the
network Stein et al. recommend for Fréchet distances), ViT and ConvNeXt. The family fixes the model class, how
its layers become maps (a ViT's patch tokens, after any class or register tokens, laid out on their grid; a
ConvNeXt's stage outputs as they are), its input normalisation (the checkpoint's preprocessor config, else
the family's) and its one-vector embedding (the pooled output: CLIP's and DINOv2's normalised class token,
SigLIP's attention pool, ConvNeXt's pooled last stage).
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from t2igan.errors import ConfigError
from t2igan.hub import quiet_loading, weights_hash
from t2igan.vision.backbone import Backbone

Norm = tuple[tuple[float, float, float], tuple[float, float, float]]
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
CLIP_NORM = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
TAPS = 3  # maps per backbone, from early to the last layer


@dataclass(frozen=True)
class Family:
    model_class: str  # in transformers
    norm: Norm
    tokens: bool  # a ViT (hidden states are token sequences) rather than a ConvNet (feature maps)


FAMILIES = {
    "clip": Family("CLIPVisionModel", CLIP_NORM, tokens=True),
    "clip_vision_model": Family("CLIPVisionModel", CLIP_NORM, tokens=True),
    "siglip": Family("SiglipVisionModel", HALF, tokens=True),
    "siglip_vision_model": Family("SiglipVisionModel", HALF, tokens=True),
    "dinov2": Family("Dinov2Model", IMAGENET, tokens=True),
    "dinov2_with_registers": Family("Dinov2WithRegistersModel", IMAGENET, tokens=True),
    "vit": Family("ViTModel", IMAGENET, tokens=True),
    "convnext": Family("ConvNextModel", IMAGENET, tokens=False),
    "convnextv2": Family("ConvNextV2Model", IMAGENET, tokens=False),
}
SUPPORTED = "CLIP or SigLIP (the vision tower), DINOv2, ViT, ConvNeXt"


def locate(source: str, setting: str) -> Path:
    """A local directory, or a Hugging Face name in the cache (offline) or fetched (configs and safetensors)."""
    if Path(source).expanduser().is_dir():
        return Path(source).expanduser().resolve()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(source, allow_patterns=["*.json", "*.safetensors"]))
    except Exception as exc:
        raise ConfigError(
            f"{setting}: cannot load {source!r} ({type(exc).__name__}); give a local directory, a model "
            "already in the Hugging Face cache, or 'inception'"
        ) from None


def _family(config: Any, where: str, setting: str) -> Family:
    model_type = str(getattr(config, "model_type", ""))
    if model_type not in FAMILIES:
        raise ConfigError(f"{setting}: {where} is a {model_type or 'unknown'} model; supported: {SUPPORTED}")
    return FAMILIES[model_type]


def normalisation(directory: Path, default: Norm) -> tuple[torch.Tensor, torch.Tensor]:
    """The checkpoint's own image_mean/image_std (preprocessor_config.json), else `default`, as [1, 3, 1, 1]."""
    mean, std = default
    processor = directory / "preprocessor_config.json"
    if processor.is_file():
        saved = json.loads(processor.read_text())
        mean, std = saved.get("image_mean", mean), saved.get("image_std", std)
    return torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)


class HuggingFaceBackbone(Backbone):
    """A Hugging Face vision model, frozen, returning `TAPS` maps evenly spaced through its depth."""

    def __init__(self, source: str, resolution: int | None = None, setting: str = "train.model.d_backbone"):
        super().__init__()
        import transformers

        directory = locate(source, setting)
        config = transformers.AutoConfig.from_pretrained(directory)
        self.family = _family(config, source, setting)
        model_class = getattr(transformers, self.family.model_class)
        with quiet_loading():
            self.model: nn.Module = model_class.from_pretrained(directory)
        vision = getattr(config, "vision_config", config)
        self.native = int(getattr(vision, "image_size", 224))
        self.resolution = resolution or self.native
        self.patch = int(getattr(vision, "patch_size", 1))
        if self.family.tokens and self.resolution < self.patch:
            raise ConfigError(
                f"{setting}_resolution: {self.resolution} pixels is less than one {self.patch}-pixel patch "
                f"of {source}"
            )
        mean, std = normalisation(directory, self.family.norm)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)
        self.identity = f"{source}:sha256={weights_hash(directory)[:16]}"
        self._interpolate = self.resolution != self.native and (
            "interpolate_pos_encoding" in inspect.signature(self.model.forward).parameters
        )
        self.freeze()
        with torch.no_grad():
            self.channels = tuple(int(m.shape[1]) for m in self.forward(torch.zeros(1, 3, 8, 8)))

    def _outputs(self, images: torch.Tensor) -> Any:
        x = (self.resized(images) * 0.5 + 0.5 - self.mean) / self.std
        extra = {"interpolate_pos_encoding": True} if self._interpolate else {}
        return self.model(pixel_values=x, output_hidden_states=True, **extra)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        states = self._outputs(images).hidden_states
        if self.family.tokens:
            states = states[1:]  # [0] is the patch embedding
            grid = self.resolution // self.patch
            chosen = [states[round(len(states) * (k + 1) / TAPS) - 1] for k in range(TAPS)]
            # patch tokens are the last grid*grid of the sequence (after a class token and any registers)
            return [s[:, -grid * grid :].transpose(1, 2).reshape(len(s), -1, grid, grid) for s in chosen]
        stages = states[1:]  # [0] is the stem's output
        return list(stages[-TAPS:])

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """One vector per image: the model's pooled output (its last state's mean where it has none)."""
        outputs = self._outputs(images)
        pooled = getattr(outputs, "pooler_output", None)
        if pooled is None:
            pooled = outputs.last_hidden_state.mean(dim=1)
        return pooled.flatten(1)


def load_backbone(
    source: str, resolution: int | None = None, setting: str = "train.model.d_backbone"
) -> Backbone:
    """`inception` (the packaged FID network) or a Hugging Face vision checkpoint."""
    from t2igan.vision.backbone import INCEPTION, InceptionBackbone

    if source == INCEPTION:
        return InceptionBackbone(resolution=resolution)
    return HuggingFaceBackbone(source, resolution, setting)
