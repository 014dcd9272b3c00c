"""Real-image Inception features of a sharded store, a shard at a time: independent tasks, cached per shard.

FID's real side is a sample of test images. With a sharded store those images are spread over shards; each
shard's part is one task (t2igan.data.tasks: local processes, or the Dask cluster the data stages use) that
reads the shard, decodes the chosen images and runs Inception on them. Each part is cached under the shard's
sha256 (from the store's index), the rows chosen in it, the image size and the network: a new validate that
rewrote some shards recomputes only theirs. The parts, in shard order, are the rows in store order: the same
features the one-file store gives (tests/unit/metrics/test_shard_features.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from t2igan.data.sharded_store import ShardedStore, ShardIndex, decode_png, read_shard
from t2igan.data.tasks import run_tasks
from t2igan.io import atomic_path
from t2igan.metrics.features import cache_key, extract
from t2igan.metrics.rows import batches
from t2igan.vision.inception import InceptionFeatures


@dataclass(frozen=True)
class _ShardPart:
    index: ShardIndex
    number: int
    rows: tuple[int, ...]  # store indices in this shard, sorted
    network_path: str | None
    device: str


@functools.lru_cache(maxsize=1)
def _network(path: str | None, device: str) -> InceptionFeatures:
    return InceptionFeatures(path, device=device)


def _part_features(part: _ShardPart) -> np.ndarray:
    images = read_shard(part.index, part.number)
    pixels = np.stack([decode_png(images[row]) for row in part.rows])
    with torch.inference_mode():
        return extract(_network(part.network_path, part.device), batches(pixels))


def real_features(
    store: ShardedStore,
    rows: np.ndarray,
    network: InceptionFeatures,
    cache_dir: Path,
    workers: int | None,
    device: str = "cpu",
) -> tuple[np.ndarray, bool]:
    """(features of store `rows` in sorted order, whether every part came from the cache)."""
    index = store.index
    rows = np.sort(rows)
    numbers = index.shard_of(rows)
    parts, paths = [], []
    for number in np.unique(numbers):
        chosen = tuple(int(row) for row in rows[numbers == number])
        key = cache_key(
            kind="inception-shard-features",
            shard=index.shards[int(number)]["sha256"],
            rows=chosen,
            size=index.size,
            network=network.identity,
        )
        parts.append(_ShardPart(index, int(number), chosen, str(network.path), device))
        paths.append(cache_dir / f"shard-{key}.npy")
    missing = [i for i, path in enumerate(paths) if not path.is_file()]
    computed = run_tasks(
        _part_features, [parts[i] for i in missing], workers=workers, stage="evaluate", phase="inception-shards"
    )
    for i, features in zip(missing, computed, strict=True):
        paths[i].parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(paths[i]) as tmp, open(tmp, "wb") as handle:
            np.save(handle, features)
    return np.concatenate([np.load(path) for path in paths]), not missing
