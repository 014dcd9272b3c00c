"""The training feed: a global batch's shards are the single-process batch; a batch is its step's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from t2igan.errors import DataError
from t2igan.paths import ProjectPaths
from t2igan.training.data import BatchSampler, TrainingSet
from tests.support.project import tiny_params_dict
from tests.support.templates import ProjectTemplates


def test_the_shards_of_a_batch_are_the_single_process_batch(embedded: ProjectPaths) -> None:
    data = TrainingSet.load(embedded)
    whole = BatchSampler(data, batch_size=8, seed=3)
    shards = [BatchSampler(data, batch_size=8, seed=3, shard=r, shards=2) for r in range(2)]
    for step in (0, 1, 25):
        images, text, words = whole.batch(step)
        assert words is None  # no token states asked for
        parts = [s.batch(step) for s in shards]
        assert all(p[0].shape[0] == 4 for p in parts)
        # Rank r holds positions r, r+2, ...: interleaving the shards gives back the global batch.
        np.testing.assert_array_equal(images[0::2].numpy(), parts[0][0].numpy())
        np.testing.assert_array_equal(images[1::2].numpy(), parts[1][0].numpy())
        np.testing.assert_array_equal(text[1::2].numpy(), parts[1][1].numpy())
    with pytest.raises(DataError, match="does not split evenly over 3 processes"):
        BatchSampler(data, batch_size=8, seed=3, shard=0, shards=3)


def test_a_batch_is_a_function_of_the_step_and_every_image_comes_once_an_epoch(embedded: ProjectPaths) -> None:
    data = TrainingSet.load(embedded)
    sampler = BatchSampler(data, batch_size=8, seed=3)
    first, again = sampler.batch(7), BatchSampler(data, batch_size=8, seed=3).batch(7)
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(first[:2], again[:2], strict=True))
    assert first[0].dtype.is_floating_point and first[0].min() >= -1 and first[0].max() <= 1
    epoch = np.concatenate([sampler.positions(step) for step in range(len(data) // 8)])
    assert sorted(epoch.tolist()) == list(range(len(data)))


def test_word_batches_are_their_captions_token_states_read_from_the_memory_mapped_file(
    tmp_path: Path, templates: ProjectTemplates
) -> None:
    raw = tiny_params_dict(embed={"token_states": True})
    project = templates.project(tmp_path / "project", raw, "ingest", "validate", "embed")
    data = TrainingSet.load(project, words=True)
    assert data.tokens is not None and isinstance(data.tokens.states, np.memmap)
    assert data.word_dim == data.tokens.states.shape[2] > 0
    vectors = data.embeddings.vectors
    for step in (0, 3):
        _, text, words = BatchSampler(data, batch_size=8, seed=3).batch(step)
        assert words is not None
        for i, sentence in enumerate(text.numpy()):
            row = int(np.flatnonzero((vectors == sentence).all(axis=1))[0])  # the caption this image drew
            length = int(data.tokens.lengths[row])
            assert int(words.mask[i].sum()) == length and bool(words.mask[i, :length].all())
            np.testing.assert_array_equal(words.states[i, :length].numpy(), data.tokens.states[row, :length])
            assert not words.states[i, length:].any()  # padding is zeros, and masked
        assert words.states.shape[1] == int(words.mask.sum(1).max())  # cut to the batch's longest caption
