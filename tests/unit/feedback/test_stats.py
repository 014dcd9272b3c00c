"""Win rates with Wilson intervals."""

from __future__ import annotations

import pytest

from t2igan.feedback.stats import wilson_interval


def test_wilson_interval_matches_the_closed_form() -> None:
    from math import sqrt

    z = 1.6448536269514722  # two-sided 90%
    for wins, n in ((3, 3), (7, 10), (0, 5), (40, 100)):
        p = wins / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        assert wilson_interval(wins, n, 0.9) == pytest.approx((centre - half, centre + half), abs=1e-9)
    assert wilson_interval(0, 0, 0.9) == (0.0, 1.0)
