"""Features are extracted once per image set and cached: the cache is used, never recomputed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from t2igan.metrics.features import cache_key, cached_features
from t2igan.vision.inception import InceptionFeatures
from tests.support.fid_reference import batches, load_set


def test_real_features_are_cached_and_reused(inception: InceptionFeatures, tmp_path: Path) -> None:
    images = load_set("rects_a")[:8]
    cache = tmp_path / "real.npy"
    first, cached = cached_features(inception, cache, lambda: batches(images))
    assert not cached and first.shape == (8, 2048)
    again, cached = cached_features(inception, cache, lambda: pytest.fail("the cache was not used"))
    assert cached and np.array_equal(first, again)


def test_cache_keys_name_everything_that_shapes_the_artefact() -> None:
    key = cache_key(kind="inception-features", count=1000, seed=1)
    assert key == cache_key(seed=1, count=1000, kind="inception-features")  # order does not matter
    assert key != cache_key(kind="inception-features", count=2000, seed=1)  # the sample count does
