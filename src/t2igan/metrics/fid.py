"""Fréchet Inception Distance with torchmetrics over the TF-Inception features, real statistics cached.

torchmetrics accumulates the feature sums and covariance in float64 and computes the distance; we feed it
our feature module (so neither torch-fidelity nor torchvision is needed). The real side's accumulated
state is cached under a key naming everything that shapes it (dataset, split, size, sample count, network),
so evaluating a second checkpoint on the same data computes only the generated side. FID is biased by the
sample count, so the metric name carries it (`fid_1k`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torchmetrics.image.fid import FrechetInceptionDistance

from t2igan.io import atomic_path
from t2igan.metrics.inception import InceptionFeatures

log = logging.getLogger(__name__)

_REAL_STATES = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")


def metric_name(samples: int) -> str:
    return f"fid_{samples // 1000}k" if samples % 1000 == 0 else f"fid_{samples}"


def stats_key(**parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _to_nchw(batch: np.ndarray | torch.Tensor) -> torch.Tensor:
    tensor = torch.as_tensor(np.ascontiguousarray(batch))
    return tensor.permute(0, 3, 1, 2) if tensor.shape[-1] == 3 else tensor


class FID:
    """One FID computation: `add_real` (or a cached real side), `add_fake`, `compute`."""

    def __init__(self, features: InceptionFeatures) -> None:
        self.features = features
        self.metric = FrechetInceptionDistance(feature=features, reset_real_features=False, normalize=False)

    def add(self, batches: Iterable[np.ndarray | torch.Tensor], real: bool) -> None:
        for batch in batches:
            self.metric.update(_to_nchw(batch), real=real)

    def load_or_add_real(self, cache: Path, batches: Iterable[np.ndarray | torch.Tensor]) -> bool:
        """Use cached real statistics if present, else compute and cache them; True when cached."""
        if cache.is_file():
            state = torch.load(cache, map_location="cpu", weights_only=True)
            for name in _REAL_STATES:
                setattr(self.metric, name, state[name])
            return True
        self.add(batches, real=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            torch.save({name: getattr(self.metric, name) for name in _REAL_STATES}, tmp)
        return False

    def compute(self) -> float:
        return float(self.metric.compute())


def fid_between(
    real: Iterable[np.ndarray | torch.Tensor],
    fake: Iterable[np.ndarray | torch.Tensor],
    features: InceptionFeatures,
) -> float:
    fid = FID(features)
    fid.add(real, real=True)
    fid.add(fake, real=False)
    return fid.compute()
