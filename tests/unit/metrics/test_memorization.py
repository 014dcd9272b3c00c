"""The memorization check: each sample's nearest training image, found across chunk borders."""

from __future__ import annotations

import numpy as np

from t2igan.metrics.memorization import nearest, side_by_side


def test_nearest_finds_the_training_image_a_sample_copies() -> None:
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(50, 8, 8, 3), dtype=np.uint8)
    queries = train[[7, 42]].copy()
    queries[0, 0, 0, 0] ^= 1  # a near copy
    index, distance = nearest(train, queries, chunk=16)  # chunked: the best match crosses chunk borders
    assert index.tolist() == [7, 42]
    assert distance[1] == 0 and 0 < distance[0] < 1


def test_side_by_side_puts_each_sample_left_of_its_match() -> None:
    samples = np.zeros((2, 4, 4, 3), np.uint8)
    matches = np.full((2, 4, 4, 3), 200, np.uint8)
    canvas = side_by_side(samples, matches, pad=2)
    assert canvas.shape == (2 * 6 + 2, 2 * 4 + 6, 3)
    assert (canvas[2:6, 2:6] == 0).all() and (canvas[2:6, 8:12] == 200).all() and (canvas[0] == 255).all()
