"""How sure a difference between two models is: paired resampling intervals on the figures promotion compares.

Two models evaluated on the same test rows with the same seeds give paired samples: generated image i of each
comes from the same caption and noise. Resampling the rows (the same rows for both models and for the real
side) and recomputing the difference each time shows how much of it is measurement noise.

FID is not a mean of per-image terms, so the bootstrap's usual form does not apply; half-sampling does (draw
half the rows without replacement, recompute): for a smooth statistic the spread of half-sample estimates
around their mean matches the sampling spread of the full-sample estimate (McCarthy's half-sampling), and the
small bias a half-size FID has is the same for both models, so it cancels in the difference. The interval is
the full-sample difference plus the quantiles of the half-sample deviations. Per-image figures (the
judge's correctness) use the paired bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from t2igan.metrics.fid import frechet_distance


@dataclass(frozen=True)
class Interval:
    """A gain (positive: the challenger is better) and its two-sided `confidence` interval."""

    point: float
    low: float
    high: float
    confidence: float

    def as_dict(self) -> dict[str, float]:
        return {"point": self.point, "low": self.low, "high": self.high, "confidence": self.confidence}

    def __str__(self) -> str:
        return f"{self.point:+.3f} [{self.low:+.3f}, {self.high:+.3f}] at {self.confidence:.0%}"


def _bounds(point: float, deviations: np.ndarray, confidence: float) -> Interval:
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(deviations, [tail, 1.0 - tail])
    return Interval(point, point + float(low), point + float(high), confidence)


def fid_gain(
    real: np.ndarray,
    ours: np.ndarray,
    theirs: np.ndarray,
    confidence: float,
    resamples: int,
    seed: int,
) -> Interval:
    """FID(real, theirs) - FID(real, ours) with its half-sampling interval; rows must be paired."""
    if not len(real) == len(ours) == len(theirs):
        raise ValueError(f"paired features needed, got {len(real)}, {len(ours)} and {len(theirs)} rows")
    point = frechet_distance(real, theirs) - frechet_distance(real, ours)
    rng = np.random.default_rng(seed)
    half = max(2, len(real) // 2)
    gains = np.empty(resamples)
    for r in range(resamples):
        rows = rng.choice(len(real), size=half, replace=False)
        gains[r] = frechet_distance(real[rows], theirs[rows]) - frechet_distance(real[rows], ours[rows])
    return _bounds(point, gains - gains.mean(), confidence)


def mean_gain(ours: np.ndarray, theirs: np.ndarray, confidence: float, resamples: int, seed: int) -> Interval:
    """mean(ours) - mean(theirs) of paired per-image scores (higher is better), with a paired bootstrap."""
    if len(ours) != len(theirs) or len(ours) == 0:
        raise ValueError(f"paired scores needed, got {len(ours)} and {len(theirs)}")
    differences = np.asarray(ours, dtype=np.float64) - np.asarray(theirs, dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(differences), size=(resamples, len(differences)))
    means = differences[draws].mean(axis=1)
    point = float(differences.mean())
    return _bounds(point, means - point, confidence)
