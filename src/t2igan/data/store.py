"""The image store: every clean image, decoded once, as one uint8 array (N x H x W x 3) in a .npy file.

Training and evaluation memory-map it, so they read no JPEGs and their memory does not grow with the
dataset: pages are read on demand and shared with the OS cache. Data beyond one file is stored as shards
instead (t2igan.data.sharded_store); `open_images` opens whichever validate wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from t2igan.data.sharded_store import INDEX, ShardedStore, ShardIndex
from t2igan.errors import StageInputError
from t2igan.io import atomic_path
from t2igan.paths import ProjectPaths

ImageStore = np.ndarray | ShardedStore  # rows by `store[rows]`, `shape` [N, S, S, 3]


def write_store(path: Path, images: Iterable[np.ndarray], count: int, size: int) -> None:
    """Stream `count` HxWx3 uint8 images into a new store, atomically."""
    with atomic_path(path) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(count, size, size, 3))
        written = 0
        for written, image in enumerate(images, start=1):
            array[written - 1] = image
        if written != count:
            raise ValueError(f"image store expected {count} images, got {written}")
        array.flush()
        del array


def open_store(path: Path) -> np.ndarray:
    """Memory-map the store read-only."""
    if not path.is_file():
        raise StageInputError(f"{path}: image store not found (run validate first)")
    store = np.load(path, mmap_mode="r")
    if store.ndim != 4 or store.shape[-1] != 3 or store.dtype != np.uint8:
        raise StageInputError(f"{path}: not an image store (shape {store.shape}, dtype {store.dtype})")
    return store


def open_images(paths: ProjectPaths) -> ImageStore:
    """The clean images as validate stored them: shards (with their index) or the one memory-mapped array."""
    if (paths.image_shards / INDEX).is_file():
        return ShardedStore(ShardIndex.read(str(paths.image_shards)))
    return open_store(paths.image_store)
