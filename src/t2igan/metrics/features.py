"""Inception features, extracted once per image set and shared by every metric that needs them.

FID and KID both read pool3 features. Running Inception once and handing the same array to both is half the
work of giving each metric its own copy of the network; the real side's array is cached on disk under a key
naming everything that shapes it (dataset, split, sample, resolution, network), so evaluating a second
checkpoint on the same data runs Inception only on the generated images.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from t2igan.io import atomic_path
from t2igan.pixels import channels_first
from t2igan.progress import Progress


class FeatureNetwork(Protocol):
    """uint8 NCHW images -> float [N, num_features]; `identity` names it for cache keys (Inception, or a
    network of `evaluate.feature_networks`)."""

    num_features: int

    @property
    def identity(self) -> str: ...

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


def cache_key(**parts: object) -> str:
    """A stable key for a cached artefact from everything that determines it."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def extract(
    network: FeatureNetwork, batches: Iterable[np.ndarray | torch.Tensor], progress: Progress | None = None
) -> np.ndarray:
    """float32 [N, 2048] features of uint8 image batches (`progress` advanced by each batch's images)."""
    parts = []
    for batch in batches:
        parts.append(network(channels_first(batch)).cpu().numpy())
        if progress is not None:
            progress.advance(len(batch))
    return np.concatenate(parts) if parts else np.zeros((0, network.num_features), dtype=np.float32)


def cached_features(
    network: FeatureNetwork,
    cache: Path,
    batches: Callable[[], Iterable[np.ndarray | torch.Tensor]],
    progress: Callable[[], Progress] | None = None,
) -> tuple[np.ndarray, bool]:
    """(features, came from the cache). `batches` and `progress` (its report) are made only on a miss."""
    if cache.is_file():
        return np.load(cache), True
    with progress() if progress is not None else contextlib.nullcontext() as report:
        features = extract(network, batches(), report)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp, open(tmp, "wb") as handle:
        np.save(handle, features)
    return features, False
