"""Per-caption diversity: 0 for a generator that ignores its noise, about 1 for one that draws like the data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from t2igan.data.shapes import ATTRIBUTES, render
from t2igan.metrics.diversity import group_ratios, mean_pairwise_distance, pixel_vectors
from t2igan.metrics.features import extract
from t2igan.metrics.rows import batches

SEEDS = 8


def _captions(count: int, seed: int) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    return [{name: str(rng.choice(values)) for name, values in ATTRIBUTES.items()} for _ in range(count)]


def _draws(attributes: dict[str, str], count: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """`count` real images of these attributes: the renderer's own jitter of position, size and colour."""
    return np.stack([np.asarray(render(attributes, size, rng)) for _ in range(count)])


def _worlds(captions: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """For each caption: real reference images, a copying generator's images, and a noise-ignoring one's."""
    rng = np.random.default_rng(seed)
    references, copying, ignoring = [], [], []
    for attributes in _captions(captions, seed):
        references.append(_draws(attributes, SEEDS, rng))
        copying.append(_draws(attributes, SEEDS, rng))  # new real draws: as varied as the data
        ignoring.append(np.repeat(_draws(attributes, 1, rng), SEEDS, axis=0))  # one image, whatever the seed
    return references, copying, ignoring


def test_mean_pairwise_distance_is_the_mean_over_pairs() -> None:
    points = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 8.0]])
    assert mean_pairwise_distance(points) == pytest.approx((5.0 + 8.0 + 5.0) / 3)
    with pytest.raises(ValueError, match="at least 2"):
        mean_pairwise_distance(points[:1])


def test_in_pixels_a_generator_ignoring_its_noise_scores_0_and_one_drawing_like_the_data_about_1() -> None:
    references, copying, ignoring = _worlds(captions=24, seed=3)

    def pixels(groups: list[np.ndarray]) -> list[np.ndarray]:
        return [pixel_vectors(images) for images in groups]

    assert np.all(group_ratios(pixels(ignoring), pixels(references)) == 0.0)
    like_the_data = group_ratios(pixels(copying), pixels(references))
    assert like_the_data.shape == (24,)
    assert 0.85 < like_the_data.mean() < 1.15


def test_in_inception_space_the_same_holds(inception: Any) -> None:
    references, copying, ignoring = _worlds(captions=6, seed=5)

    def features(groups: list[np.ndarray]) -> list[np.ndarray]:
        return [extract(inception, batches(images)) for images in groups]

    assert np.allclose(group_ratios(features(ignoring), features(references)), 0.0, atol=1e-4)
    assert 0.75 < group_ratios(features(copying), features(references)).mean() < 1.25


def test_one_reference_shared_by_every_caption_sets_one_scale() -> None:
    references, copying, _ = _worlds(captions=3, seed=7)
    shared = pixel_vectors(references[0])
    generated = [pixel_vectors(images) for images in copying]

    ratios = group_ratios(generated, [shared] * 3)

    expected = [mean_pairwise_distance(g) / mean_pairwise_distance(shared) for g in generated]
    assert np.allclose(ratios, expected)
