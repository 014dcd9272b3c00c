"""Real features of a sharded store, per shard: the one-file store's features, each shard's part cached under
its hash, and only a changed shard's part computed again."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from t2igan.data.sharded_store import ShardedStore, encode_shard
from t2igan.data.store import open_images
from t2igan.io import write_json
from t2igan.metrics.features import extract
from t2igan.metrics.rows import batches
from t2igan.metrics.shard_features import real_features
from t2igan.vision.inception import InceptionFeatures
from tests.support.project import tiny_params_dict
from tests.support.templates import ProjectTemplates


def test_per_shard_features_are_the_array_store_s_and_are_cached_per_shard(
    tmp_path: Path, templates: ProjectTemplates
) -> None:
    sharded = templates.project(
        tmp_path / "sharded",
        tiny_params_dict(data={"store": "shards", "shard_samples": 24}),
        "ingest",
        "validate",
    )
    array = templates.project(
        tmp_path / "array", tiny_params_dict(data={"store": "array"}), "ingest", "validate"
    )
    store = open_images(sharded)
    assert isinstance(store, ShardedStore)
    rows = np.array([230, 3, 50, 51, 120, 199, 7])  # in four shards, unsorted
    network = InceptionFeatures()
    cache = tmp_path / "cache"
    features, cached = real_features(store, rows, network, cache, workers=1)
    assert not cached and len(list(cache.glob("shard-*.npy"))) == 5
    expected = extract(network, batches(np.asarray(open_images(array)[np.sort(rows)])))
    np.testing.assert_allclose(features, expected, atol=1e-4, rtol=1e-4)
    again, cached = real_features(store, rows, network, cache, workers=2)
    assert cached and np.array_equal(again, features)

    # Shard 2 rewritten with one image changed (and its hash in the index): only its part is computed again.
    index = json.loads((sharded.image_shards / "index.json").read_text())
    first = int(index["shards"][2]["first"])
    images = np.asarray(store[np.arange(first, first + 24)]).copy()
    images[50 - first] = 255 - images[50 - first]
    data = encode_shard(first, images)
    (sharded.image_shards / "000002.tar").write_bytes(data)
    index["shards"][2]["sha256"] = hashlib.sha256(data).hexdigest()
    write_json(sharded.image_shards / "index.json", index)
    before = set(cache.glob("shard-*.npy"))
    changed, cached = real_features(open_images(sharded), rows, network, cache, workers=1)  # type: ignore[arg-type]
    assert not cached and len(set(cache.glob("shard-*.npy")) - before) == 1
    moved = ~np.isclose(changed, features).all(axis=1)
    assert np.sort(rows)[moved].tolist() == [50]
