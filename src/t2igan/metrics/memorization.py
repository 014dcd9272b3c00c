"""Memorization check: the nearest training image to each of a few generated ones.

A generator that copies its training set can score a good FID. Showing each sample next to its nearest
training image (pixel L2 at the training resolution) lets a person see copying; the ratio of the samples'
nearest distances to real held-out images' nearest distances puts a number on it: well below 1 means the
samples sit closer to training images than unseen real images do.
"""

from __future__ import annotations

import numpy as np
import torch


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
