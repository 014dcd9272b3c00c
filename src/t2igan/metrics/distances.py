"""The two Inception feature sets FID and KID compare: real test images and images generated for them.

One pass of Inception per side serves both metrics. The real side's features depend only on the data and are
cached under a key naming everything that shapes them (manifest, split, count, size, seed, network), so
evaluating another checkpoint on the same data runs Inception only on the generated images; the generated
side is cached by the generator's weights, so re-evaluating one checkpoint runs it on nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from t2igan.data.sharded_store import ShardedStore
from t2igan.data.splits import MIN_TEST_IMAGES, TEST
from t2igan.errors import StageInputError
from t2igan.metrics import seeds
from t2igan.metrics.context import EvalContext
from t2igan.metrics.features import cache_key, cached_features
from t2igan.metrics.fid import metric_name
from t2igan.metrics.rows import batches, pick_rows
from t2igan.metrics.shard_features import real_features
from t2igan.progress import Progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistanceSample:
    real: np.ndarray  # Inception features [N, 2048]
    fake: np.ndarray
    real_images: np.ndarray  # the images they came from (uint8 NHWC), for the memorization check
    fake_images: np.ndarray
    real_cached: bool
    fake_cached: bool
    captions: tuple[str, ...] = ()  # the captions the fakes were drawn for, in order

    @property
    def count(self) -> int:
        return len(self.real)

    @property
    def fid_name(self) -> str:
        return metric_name(self.count)

    @property
    def kid_name(self) -> str:
        return metric_name(self.count, "kid")


def distances(context: EvalContext) -> DistanceSample:
    """The evaluation's two feature sets, on its test split: computed once, read by FID, KID, memorization
    and the champion's re-scoring."""
    return context.shared("distances", lambda: distance_sample(context, context.split(TEST)))


def _real_features(context: EvalContext, chosen: np.ndarray, images: np.ndarray) -> tuple[np.ndarray, bool]:
    """Features of the real test images: cached as one array, or per shard of a sharded store."""
    network, cfg = context.network, context.cfg
    if isinstance(context.store, ShardedStore):  # per shard, in parallel, cached per shard
        cache, workers = context.cache_path("inception", ""), context.params.data.workers
        return real_features(context.store, chosen, network, cache, workers, str(context.device))
    key = cache_key(
        kind="inception-features",
        manifest=context.manifest_sha,
        split="test",
        count=len(chosen),
        size=int(context.store.shape[1]),
        seed=cfg.seed,
        network=network.identity,
    )
    return cached_features(
        network,
        context.cache_path("inception", f"real-{key}.npy"),
        lambda: batches(images),
        lambda: Progress("evaluate", "inception-real", len(chosen), unit="img"),
    )


def distance_sample(context: EvalContext, test: pd.DataFrame) -> DistanceSample:
    cfg, network = context.cfg, context.network
    rows = pick_rows(test, cfg.fid_samples, cfg.seed + seeds.FID_ROWS, one_per_image=True)
    if len(rows) < MIN_TEST_IMAGES:
        raise StageInputError(
            f"{context.paths.clean_manifest}: FID needs at least {MIN_TEST_IMAGES} test images, "
            f"found {len(rows)}"
        )
    if len(rows) < cfg.fid_samples:
        log.warning("only %d test images for FID (asked for %d)", len(rows), cfg.fid_samples)
    count = len(rows)
    chosen = np.sort(rows["store_index"].to_numpy())
    real_images = context.store[chosen]
    real, real_cached = _real_features(context, chosen, real_images)
    fake_images = context.generate(rows, cfg.seed + seeds.FID_IMAGES)
    # Images depend only on (weights, caption, seed): evaluating the same checkpoint again (another report
    # setting, a forced rerun) reuses the generated side too. A new checkpoint always misses.
    generated_key = cache_key(
        kind="generated-features",
        generator=context.generator_sha,
        manifest=context.manifest_sha,
        rows=rows.index.tolist(),
        seeds=[cfg.seed, count],
        network=network.identity,
    )
    fake, fake_cached = cached_features(
        network,
        context.cache_path("inception", f"generated-{generated_key}.npy"),
        lambda: batches(fake_images),
        lambda: Progress("evaluate", "inception-generated", count, unit="img"),
    )
    captions = tuple(context.manifest.loc[rows.index, "caption"].astype(str))
    return DistanceSample(real, fake, real_images, fake_images, real_cached, fake_cached, captions)
