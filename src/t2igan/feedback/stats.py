"""Votes into figures: how often people prefer one version over another, with a confidence interval.

Only decided comparisons (left or right) count towards a win rate; "both bad" says something about the
caption, not about which model is better, and is counted beside it. The interval is Wilson's score interval
(scipy's `binomtest`): unlike the normal approximation it stays inside [0, 1] and behaves at a few votes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from t2igan.feedback.tables import BOTH_BAD, Thumb, Vote


@dataclass(frozen=True)
class WinRate:
    """`version` against `other`: wins, losses and both-bad votes, the win rate and its interval."""

    version: str
    other: str
    wins: int
    losses: int
    both_bad: int
    low: float
    high: float
    confidence: float

    @property
    def decided(self) -> int:
        return self.wins + self.losses

    @property
    def rate(self) -> float | None:
        return self.wins / self.decided if self.decided else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "decided": self.decided, "rate": self.rate}

    def describe(self) -> str:
        if not self.decided:
            return f"no decided comparisons of version {self.version} with version {self.other} yet"
        return (
            f"preferred in {self.wins} of {self.decided} comparisons with version {self.other} "
            f"(win rate {self.rate:.2f}, {self.confidence:.0%} interval [{self.low:.2f}, {self.high:.2f}]; "
            f"{self.both_bad} both bad)"
        )


def wilson_interval(wins: int, trials: int, confidence: float) -> tuple[float, float]:
    """The two-sided Wilson score interval of a proportion; (0, 1) with no trials."""
    if trials == 0:
        return 0.0, 1.0
    from scipy.stats import binomtest

    interval = binomtest(wins, trials).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def _pair(model_name: str, a: str, b: str, since: datetime | None) -> Any:
    condition = (Vote.model_name == model_name) & or_(
        (Vote.left_version == a) & (Vote.right_version == b),
        (Vote.left_version == b) & (Vote.right_version == a),
    )
    return condition if since is None else condition & (Vote.created_at >= since)


def win_rate(
    session: Session,
    model_name: str,
    version: str,
    other: str,
    confidence: float,
    since: datetime | None = None,
) -> WinRate:
    rows = session.execute(
        select(Vote.winner_version, Vote.choice, func.count())
        .where(_pair(model_name, version, other, since))
        .group_by(Vote.winner_version, Vote.choice)
    ).all()
    wins = sum(n for winner, _, n in rows if winner == version)
    losses = sum(n for winner, _, n in rows if winner == other)
    both_bad = sum(n for _, choice, n in rows if choice == BOTH_BAD)
    low, high = wilson_interval(wins, wins + losses, confidence)
    return WinRate(version, other, wins, losses, both_bad, low, high, confidence)


def compared_pairs(session: Session, model_name: str, since: datetime | None = None) -> list[tuple[str, str]]:
    """Each pair of versions people compared (newer version first), most voted first."""
    query = select(Vote.left_version, Vote.right_version, func.count()).where(Vote.model_name == model_name)
    if since is not None:
        query = query.where(Vote.created_at >= since)
    counts: dict[tuple[str, str], int] = {}
    for left, right, n in session.execute(query.group_by(Vote.left_version, Vote.right_version)).all():
        newer, older = sorted((left, right), key=_version_order, reverse=True)
        counts[newer, older] = counts.get((newer, older), 0) + n
    return sorted(counts, key=lambda pair: -counts[pair])


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (0, version)


@dataclass(frozen=True)
class ThumbCount:
    version: str
    up: int
    down: int


def thumb_counts(session: Session, model_name: str, since: datetime | None = None) -> list[ThumbCount]:
    query = select(Thumb.version, Thumb.up, func.count()).where(Thumb.model_name == model_name)
    if since is not None:
        query = query.where(Thumb.created_at >= since)
    tally: dict[str, list[int]] = {}
    for version, up, n in session.execute(query.group_by(Thumb.version, Thumb.up)).all():
        tally.setdefault(version, [0, 0])[0 if up else 1] += n
    return [
        ThumbCount(v, up, down) for v, (up, down) in sorted(tally.items(), key=lambda i: _version_order(i[0]))
    ]


def vote_count(session: Session, model_name: str, since: datetime | None = None) -> int:
    query = select(func.count()).select_from(Vote).where(Vote.model_name == model_name)
    if since is not None:
        query = query.where(Vote.created_at >= since)
    return int(session.execute(query).scalar_one())
