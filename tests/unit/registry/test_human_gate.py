"""The human gate's decision: enough votes, and a win rate whose lower bound clears the threshold."""

from __future__ import annotations

from t2igan.config import HumanGateParams
from t2igan.feedback.stats import WinRate, wilson_interval
from t2igan.registry.human_gate import decide_human


def _rate(wins: int, losses: int, confidence: float = 0.9) -> WinRate:
    low, high = wilson_interval(wins, wins + losses, confidence)
    return WinRate("2", "1", wins, losses, 0, low, high, confidence)


def test_the_human_gate_needs_enough_votes_and_a_lower_bound_above_the_threshold() -> None:
    gate = HumanGateParams(enabled=True, min_votes=3, threshold=0.5, confidence=0.9)
    assert not decide_human(_rate(2, 0), gate).promote  # N - 1 votes, all for it: too few
    assert "2 of 3 decided comparisons" in decide_human(_rate(2, 0), gate).reason
    assert decide_human(_rate(3, 0), gate).promote  # N votes, lower bound 0.53 > 0.5
    assert not decide_human(_rate(1, 5), gate).promote  # worse: people prefer the champion
    assert not decide_human(_rate(6, 4), gate).promote  # better on average, but within the noise
    assert decide_human(_rate(60, 40), HumanGateParams(min_votes=30, threshold=0.5, confidence=0.9)).promote
