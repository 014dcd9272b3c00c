"""Training from a sharded store: disjoint shards per rank, every training image once an epoch, batches a
function of the step (what exact resume rests on), the same with DataLoader workers, a changed copy refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from t2igan.config import StreamParams, parse_params
from t2igan.data.sharded_store import ShardedStore
from t2igan.data.splits import TRAIN
from t2igan.errors import DataError, StageInputError
from t2igan.paths import ProjectPaths
from t2igan.training.data import BatchSampler, TrainingSet
from t2igan.training.stream import StreamingSampler, sampler_for
from tests.support.project import run_stages, tiny_params_dict
from tests.support.templates import ProjectTemplates

SHARDED = {"store": "shards", "shard_samples": 24}  # the tiny set's 240 images in 10 shards


@pytest.fixture
def sharded(tmp_path: Path, templates: ProjectTemplates) -> ProjectPaths:
    return templates.project(tmp_path / "p", tiny_params_dict(data=SHARDED), "ingest", "validate", "embed")


def test_ranks_stream_disjoint_shards_and_each_sees_its_training_images_once_an_epoch(
    sharded: ProjectPaths,
) -> None:
    data = TrainingSet.load(sharded, TRAIN)
    assert isinstance(data.store, ShardedStore) and len(data.store.index.shards) == 10
    stream = StreamParams(shuffle_shards=3)
    samplers = [StreamingSampler(data, 8, seed=5, stream=stream, rank=r, world=2) for r in range(2)]
    layouts = [s.layout for s in samplers]
    assert set(layouts[0].mine.tolist()).isdisjoint(layouts[1].mine.tolist())
    epochs = [layout.images(0, layout.epoch_length) for layout in layouts]
    assert sorted(np.concatenate(epochs).tolist()) == data.store_index.tolist()  # every training image, once
    shard_of = data.store.index.shard_of
    assert all(
        set(shard_of(e).tolist()) <= set(layout.mine.tolist())
        for e, layout in zip(epochs, layouts, strict=True)
    )
    second = layouts[0].images(layouts[0].epoch_length, layouts[0].epoch_length)
    assert sorted(second.tolist()) == sorted(epochs[0].tolist()) and not np.array_equal(second, epochs[0])


def test_a_step_s_batch_does_not_depend_on_where_the_stream_started_or_who_decoded_it(
    sharded: ProjectPaths,
) -> None:
    data = TrainingSet.load(sharded, TRAIN)
    straight = StreamingSampler(data, 8, seed=5, stream=StreamParams(shuffle_shards=2))
    batches = [straight.batch(step) for step in range(12)]
    resumed = StreamingSampler(data, 8, seed=5, stream=StreamParams(shuffle_shards=2, loader_workers=2))
    for step in range(7, 12):  # started at step 7, as a resumed run does
        images, text, _ = resumed.batch(step)
        assert np.array_equal(images.numpy(), batches[step][0].numpy())
        assert np.array_equal(text.numpy(), batches[step][1].numpy())
    # the pixels are the store's: the same images the array store of the same data gives
    rows = straight.layout.images(0, 8)
    expected = BatchSampler(data, 8, seed=5)
    assert np.array_equal(data.store[rows], np.asarray(expected.dataset.store[rows]))


def test_a_copy_of_the_store_elsewhere_is_read_and_a_changed_one_refused(
    sharded: ProjectPaths, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(sharded.image_shards, copy)
    data = TrainingSet.load(sharded, TRAIN)
    local = StreamingSampler(data, 8, seed=1, stream=StreamParams())
    remote = StreamingSampler(data, 8, seed=1, stream=StreamParams(url=str(copy)))
    assert np.array_equal(local.batch(0)[0].numpy(), remote.batch(0)[0].numpy())
    first = sorted(copy.glob("*.tar"))[0]
    changed = bytearray(first.read_bytes())
    changed[len(changed) // 2] ^= 0xFF  # one bit flip inside an image: the tar still reads
    first.write_bytes(bytes(changed))
    in_first = data.store.index.shard_of(data.store_index) == 0
    step = next(
        s
        for s in range(100)
        if in_first[np.searchsorted(data.store_index, local.layout.images(8 * s, 8))].any()
    )
    with pytest.raises(StageInputError, match=r"000000\.tar: shard differs from the index\.json of its store"):
        StreamingSampler(data, 8, seed=1, stream=StreamParams(url=str(copy))).batch(step)
    (copy / "index.json").write_text(
        (copy / "index.json").read_text().replace('"samples": 24', '"samples": 25')
    )
    with pytest.raises(DataError, match="not a copy of this project's image store"):
        StreamingSampler(data, 8, seed=1, stream=StreamParams(url=str(copy)))


def test_more_ranks_than_shards_is_refused_and_an_array_store_keeps_random_access(
    sharded: ProjectPaths, embedded: ProjectPaths
) -> None:
    data = TrainingSet.load(sharded, TRAIN)
    with pytest.raises(DataError, match="16 ranks but only 7 shards hold training images"):
        StreamingSampler(data, 16, seed=1, stream=StreamParams(), rank=0, world=16)
    array = TrainingSet.load(embedded, TRAIN)
    assert type(sampler_for(array, 8, 1, StreamParams(), 0, 1, None)) is BatchSampler


def test_training_streams_from_shards_and_resumes_to_the_same_weights(
    sharded: ProjectPaths, tmp_path: Path
) -> None:
    from tests.unit.stages.test_train import weights_hash

    params = parse_params(tiny_params_dict(data=SHARDED))
    run_stages(params, sharded, "train")
    straight = weights_hash(sharded)
    # the same run stopped after 8 steps (checkpoint every 4), then continued to 12
    again = ProjectPaths.at(tmp_path / "again")
    shutil.copytree(sharded.root, again.root, ignore=shutil.ignore_patterns("train"))
    stopped = parse_params(tiny_params_dict(data=SHARDED, train={"steps": 8}))
    run_stages(stopped, again, "train")
    assert weights_hash(again) != straight
    run_stages(params, again, "train")
    assert weights_hash(again) == straight
