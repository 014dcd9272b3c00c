"""The sharded store: the same images give the same shard bytes; `t2igan store copy` puts a copy where the
stream reads it; an index that is not a store's is refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from t2igan.data.sharded_store import ShardIndex, encode_shard, wants_shards
from t2igan.errors import StageInputError
from tests.support.project import cli, tiny_params_dict
from tests.support.templates import ProjectTemplates


def test_the_same_images_give_the_same_shard_bytes_and_auto_switches_above_the_limit() -> None:
    images = np.random.default_rng(0).integers(0, 255, (5, 16, 16, 3), dtype=np.uint8)
    assert encode_shard(10, images) == encode_shard(10, images.copy())
    assert encode_shard(10, images) != encode_shard(11, images)  # the keys are the store rows
    assert not wants_shards("auto", 1000, 64, 4.0) and wants_shards("auto", 500_000, 256, 4.0)
    assert wants_shards("shards", 1, 16, 4.0) and not wants_shards("array", 10**9, 256, 4.0)


def test_store_copy_puts_shards_and_index_where_training_reads_them(
    tmp_path: Path, templates: ProjectTemplates
) -> None:
    raw = tiny_params_dict(data={"store": "shards", "shard_samples": 24})
    project = templates.project(tmp_path / "p", raw, "ingest", "validate")
    destination = tmp_path / "bucket" / "stores" / "tiny"
    done = cli("store", "copy", str(destination), cwd=project.root)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"copied 10 shards and index.json to {destination}" in done.stdout
    copied, local = ShardIndex.read(str(destination)), ShardIndex.read(str(project.image_shards))
    assert copied.shards == local.shards
    assert all(
        (destination / name).read_bytes() == (project.image_shards / name).read_bytes()
        for name in copied.shard_set.names
    )
    (destination / "index.json").write_text('{"format": "something-else/1"}')
    with pytest.raises(StageInputError, match="not a t2igan sharded image store"):
        ShardIndex.read(str(destination))
