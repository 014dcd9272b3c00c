"""Fréchet distances on networks other than Inception (`evaluate.feature_networks`: fd_<name>).

Kynkäänniemi et al. (ICLR 2023) showed Inception-FID can be moved by matching ImageNet class statistics
without better images, which is what a discriminator judging through a pretrained network is placed to do;
Stein et al. (NeurIPS 2023) recommend a Fréchet distance in DINOv2 space beside it. Each named network here
embeds the same real and generated test images FID reads (one vector per image: the network's pooled output),
and fd_<name> is the Fréchet distance of the two sets, cached like Inception's features by the network's
weights. The gate can read one first (`register.primary_metric`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from t2igan.metrics.context import EvalContext
from t2igan.metrics.distances import distances
from t2igan.metrics.features import cache_key, cached_features
from t2igan.metrics.figures import FD_PREFIX
from t2igan.metrics.rows import batches
from t2igan.vision.families import HuggingFaceBackbone


class EmbeddingNetwork(nn.Module):
    """uint8 NCHW images -> float32 [N, D] pooled embeddings of a Hugging Face vision checkpoint."""

    def __init__(self, name: str, source: str, device: str | torch.device) -> None:
        super().__init__()
        self.backbone = HuggingFaceBackbone(source, setting=f"evaluate.feature_networks.{name}").to(device)
        self.identity = f"{self.backbone.identity}:bilinear-{self.backbone.resolution}"
        with torch.no_grad():
            self.num_features = int(self.backbone.embed(torch.zeros(1, 3, 8, 8, device=device)).shape[1])

    @torch.inference_mode()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        device = self.backbone.mean.device
        x = images.to(device).float() / 127.5 - 1.0
        return self.backbone.embed(x).float()


@dataclass(frozen=True)
class FeaturePair:
    """The test images FID reads, embedded by one named network."""

    name: str  # fd_<name>
    real: np.ndarray
    fake: np.ndarray


def feature_pair(context: EvalContext, name: str) -> FeaturePair:
    """Computed once per evaluation and network (the report and the champion's re-scoring read the same)."""
    return context.shared(f"{FD_PREFIX}{name}", lambda: _embed_pair(context, name))


def _embed_pair(context: EvalContext, name: str) -> FeaturePair:
    source = context.cfg.feature_networks[name]
    network = EmbeddingNetwork(name, source, context.device)
    sample = distances(context)
    common = {"manifest": context.manifest_sha, "count": sample.count, "seed": context.cfg.seed}
    real_key = cache_key(kind="fd-real", network=network.identity, **common)
    fake_key = cache_key(
        kind="fd-generated", network=network.identity, generator=context.generator_sha, **common
    )
    real, _ = cached_features(
        network, context.cache_path("features", f"real-{real_key}.npy"), lambda: batches(sample.real_images)
    )
    fake, _ = cached_features(
        network,
        context.cache_path("features", f"generated-{fake_key}.npy"),
        lambda: batches(sample.fake_images),
    )
    return FeaturePair(f"{FD_PREFIX}{name}", real, fake)
