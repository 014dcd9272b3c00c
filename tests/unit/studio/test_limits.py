"""The studio's per-client rate limits."""

from __future__ import annotations

import pytest

from t2igan.studio.limits import RateLimits, Throttle


def test_the_throttle_counts_per_client_and_kind() -> None:
    throttle = Throttle(RateLimits(draw="3/minute", feedback="2/minute"))
    assert [throttle.allow("feedback", "a") for _ in range(4)] == [True, True, False, False]
    assert throttle.allow("feedback", "b") and throttle.allow("draw", "a")
    with pytest.raises(ValueError):
        Throttle(RateLimits(draw="many per second"))
