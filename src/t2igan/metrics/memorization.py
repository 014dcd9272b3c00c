"""Memorization check: the nearest training image to each of a few generated ones.

A generator that copies its training set can score a good FID. Showing each sample next to its nearest
training image (pixel L2 at the training resolution) lets a person see copying; the ratio of the samples'
nearest distances to real held-out images' nearest distances puts a number on it: well below 1 means the
samples sit closer to training images than unseen real images do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from t2igan.metrics.context import EvalContext
from t2igan.metrics.distances import distances
from t2igan.metrics.grid import sample_grid


def nearest(train: np.ndarray, queries: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(index into `train`, RMS pixel distance in 0..255 units) of each query's nearest training image.

    Chunked over the training images, so memory stays bounded however large the store is.
    """
    q = torch.from_numpy(queries.reshape(len(queries), -1).astype(np.float32))
    best_distance = torch.full((len(q),), float("inf"))
    best_index = torch.zeros(len(q), dtype=torch.long)
    for start in range(0, len(train), chunk):
        block = torch.from_numpy(train[start : start + chunk].reshape(-1, q.shape[1]).astype(np.float32))
        distance, index = torch.cdist(q, block).min(dim=1)
        better = distance < best_distance
        best_distance = torch.where(better, distance, best_distance)
        best_index = torch.where(better, index + start, best_index)
    rms = best_distance / np.sqrt(q.shape[1])
    return best_index.numpy(), rms.numpy()


def side_by_side(samples: np.ndarray, matches: np.ndarray, pad: int = 2) -> np.ndarray:
    """One row per pair: sample | nearest training image (uint8 NHWC in, one uint8 HWC canvas out)."""
    count, height, width, _ = samples.shape
    canvas = np.full((count * (height + pad) + pad, 2 * width + 3 * pad, 3), 255, dtype=np.uint8)
    for i in range(count):
        top = pad + i * (height + pad)
        canvas[top : top + height, pad : pad + width] = samples[i]
        canvas[top : top + height, 2 * pad + width : 2 * pad + 2 * width] = matches[i]
    return canvas


MEMORIZATION_BASELINE = 200  # generated and real test images whose nearest-training distances are compared


@dataclass(frozen=True)
class MemorizationCheck:
    figures: dict[str, float]  # nn_distance_generated, nn_distance_real, memorization_ratio
    picture: np.ndarray | None  # grid samples beside their nearest training images
    distances: list[float]  # of those samples, in order
    captions: list[str]


def memorization_check(context: EvalContext) -> MemorizationCheck | None:
    """The check for this evaluation (computed once): its figures, and the report's picture."""
    return context.shared("memorization", lambda: check_memorization(context))


def check_memorization(context: EvalContext) -> MemorizationCheck | None:
    """Nearest training images of a few grid samples, and how close samples sit to training images overall."""
    train = context.train_images()
    if len(train) == 0:
        return None
    sample = distances(context)
    count = min(MEMORIZATION_BASELINE, len(sample.fake_images), len(sample.real_images))
    _, fake_distance = nearest(train, sample.fake_images[:count])
    _, real_distance = nearest(train, sample.real_images[:count])
    fake_median, real_median = float(np.median(fake_distance)), float(np.median(real_distance))
    figures = {"nn_distance_generated": fake_median, "nn_distance_real": real_median}
    if real_median > 0:  # zero only for a test set that duplicates training images
        figures["memorization_ratio"] = fake_median / real_median
    grid = sample_grid(context)
    samples = grid.images[:: grid.seeds][: context.cfg.memorization_samples]  # each caption's first seed
    if len(samples) == 0:
        return MemorizationCheck(figures, None, [], [])
    index, sample_distance = nearest(train, samples)
    captions = grid.captions[: len(samples)]
    return MemorizationCheck(
        figures, side_by_side(samples, train[index]), [float(d) for d in sample_distance], captions
    )
