"""Win rates with Wilson intervals, the human gate's decision, signed tokens and the per-client throttle."""

from __future__ import annotations

import time

import pytest
from itsdangerous import URLSafeTimedSerializer

from t2igan.config import HumanGateParams
from t2igan.feedback.stats import WinRate, wilson_interval
from t2igan.feedback.tokens import SALT, InvalidToken, Shown, Signer, load_secret
from t2igan.registry.human_gate import decide_human
from t2igan.studio.limits import RateLimits, Throttle


def _rate(wins: int, losses: int, confidence: float = 0.9) -> WinRate:
    low, high = wilson_interval(wins, wins + losses, confidence)
    return WinRate("2", "1", wins, losses, 0, low, high, confidence)


def test_wilson_interval_matches_the_closed_form() -> None:
    from math import sqrt

    z = 1.6448536269514722  # two-sided 90%
    for wins, n in ((3, 3), (7, 10), (0, 5), (40, 100)):
        p = wins / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        assert wilson_interval(wins, n, 0.9) == pytest.approx((centre - half, centre + half), abs=1e-9)
    assert wilson_interval(0, 0, 0.9) == (0.0, 1.0)


def test_the_human_gate_needs_enough_votes_and_a_lower_bound_above_the_threshold() -> None:
    gate = HumanGateParams(enabled=True, min_votes=3, threshold=0.5, confidence=0.9)
    assert not decide_human(_rate(2, 0), gate).promote  # N - 1 votes, all for it: too few
    assert "2 of 3 decided comparisons" in decide_human(_rate(2, 0), gate).reason
    assert decide_human(_rate(3, 0), gate).promote  # N votes, lower bound 0.53 > 0.5
    assert not decide_human(_rate(1, 5), gate).promote  # worse: people prefer the champion
    assert not decide_human(_rate(6, 4), gate).promote  # better on average, but within the noise
    assert decide_human(_rate(60, 40), HumanGateParams(min_votes=30, threshold=0.5, confidence=0.9)).promote


def test_a_token_carries_what_was_shown_and_refuses_tampering_other_keys_and_age(tmp_path) -> None:
    signer = Signer(b"secret")
    shown = Shown("t2igan", "a red circle", [1, 2], {"left": "2", "right": "1"}, "session")
    token = signer.sign(shown)
    assert signer.verify(token) == shown
    with pytest.raises(InvalidToken, match="not one this studio issued"):
        Signer(b"another secret").verify(token)
    forged = URLSafeTimedSerializer(b"guess", salt=SALT).dumps({**vars(shown), "versions": {"left": "9"}})
    with pytest.raises(InvalidToken):
        signer.verify(forged)
    with pytest.raises(InvalidToken, match="no comparison token"):
        signer.verify(None)
    time.sleep(1.1)
    with pytest.raises(InvalidToken, match="older than a day"):
        Signer(b"secret", max_age_s=0).verify(token)
    key = tmp_path / "studio.key"
    assert load_secret(key) == load_secret(key) and len(load_secret(key)) == 64
    assert key.stat().st_mode & 0o777 == 0o600


def test_the_throttle_counts_per_client_and_kind() -> None:
    throttle = Throttle(RateLimits(draw="3/minute", feedback="2/minute"))
    assert [throttle.allow("feedback", "a") for _ in range(4)] == [True, True, False, False]
    assert throttle.allow("feedback", "b") and throttle.allow("draw", "a")
    with pytest.raises(ValueError):
        Throttle(RateLimits(draw="many per second"))


def test_a_prompt_scores_the_attributes_it_names_by_their_words() -> None:
    from t2igan.data.shapes import ATTRIBUTES
    from t2igan.metrics.hard_prompt_alignment import named_attributes

    vocab = {name: list(values) for name, values in ATTRIBUTES.items()}
    assert named_attributes("A large purple Diamond, top, on gray!", vocab) == {
        "color": "purple",
        "shape": "diamond",
        "size": "large",
        "position": "top",
        "background": "gray",
    }
    assert named_attributes("a red or blue circle", vocab) == {"shape": "circle"}  # two colors: ambiguous
    assert named_attributes("a cathedral at dusk", vocab) == {}
