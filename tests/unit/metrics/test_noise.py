"""Paired noise intervals: a real difference is outside them, a difference of measurement noise inside."""

from __future__ import annotations

import numpy as np
import pytest

from t2igan.metrics.fid import frechet_distance
from t2igan.metrics.noise import fid_gain, mean_gain

D = 16


def _features(rng: np.random.Generator, n: int, shift: float) -> np.ndarray:
    return rng.normal(size=(n, D)) + shift


def test_a_clearly_better_model_has_an_fid_gain_above_zero() -> None:
    rng = np.random.default_rng(0)
    real = _features(rng, 200, 0.0)
    better, worse = _features(rng, 200, 0.2), _features(rng, 200, 1.0)
    gain = fid_gain(real, better, worse, confidence=0.9, resamples=100, seed=1)
    assert gain.point == pytest.approx(frechet_distance(real, worse) - frechet_distance(real, better))
    assert 0 < gain.low < gain.point < gain.high


def test_two_draws_of_one_model_differ_by_noise_only() -> None:
    rng = np.random.default_rng(0)
    real = _features(rng, 200, 0.0)
    one, other = _features(rng, 200, 0.5), _features(rng, 200, 0.5)
    gain = fid_gain(real, one, other, confidence=0.9, resamples=100, seed=1)
    assert gain.point != 0 and gain.low < 0 < gain.high
    # the interval is reproducible, and the same model against itself is exactly zero
    assert fid_gain(real, one, other, 0.9, 100, 1) == gain
    same = fid_gain(real, one, one, 0.9, 50, 1)
    assert (same.point, same.low, same.high) == (0.0, 0.0, 0.0)


def test_the_interval_narrows_with_more_samples() -> None:
    rng = np.random.default_rng(3)
    widths = []
    for n in (60, 600):
        real, one, other = (_features(rng, n, s) for s in (0.0, 0.5, 0.5))
        gain = fid_gain(real, one, other, 0.9, 100, 0)
        widths.append(gain.high - gain.low)
    assert widths[1] < widths[0] / 2


def test_unpaired_features_are_refused() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="paired"):
        fid_gain(_features(rng, 10, 0), _features(rng, 10, 0), _features(rng, 9, 0), 0.9, 10, 0)


def test_per_image_scores_use_a_paired_bootstrap() -> None:
    rng = np.random.default_rng(0)
    theirs = (rng.random(400) < 0.6).astype(float)
    ours = np.where(rng.random(400) < 0.3, 1.0, theirs)  # right wherever they were, and on 30% more
    gain = mean_gain(ours, theirs, confidence=0.9, resamples=500, seed=0)
    assert gain.point == pytest.approx(ours.mean() - theirs.mean()) and gain.low > 0
    noise = mean_gain(rng.random(400) < 0.6, rng.random(400) < 0.6, 0.9, 500, 0)
    assert noise.low < 0 < noise.high
