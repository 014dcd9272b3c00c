"""`t2igan feedback report` and the scheduled flow's feedback summary: what people said, per version.

For every pair of versions people compared: the newer one's win rate with its interval and the counts;
thumbs per version; the hard prompts. Each version compared with the current @champion gets the reading as
MLflow metrics of its training run (`human_win_rate`, its bounds, `human_votes`), beside FID and alignment.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from t2igan.config import Params
from t2igan.feedback.disliked import hard_prompts
from t2igan.feedback.stats import compared_pairs, thumb_counts, vote_count, win_rate
from t2igan.feedback.tables import SummaryMark

log = logging.getLogger(__name__)


def summarise(session: Session, params: Params, since: datetime | None = None) -> dict[str, Any]:
    name, confidence = params.register_.model_name, params.register_.human_gate.confidence
    pairs = [
        win_rate(session, name, newer, older, confidence, since).as_dict()
        for newer, older in compared_pairs(session, name, since)
    ]
    return {
        "model": name,
        "since": since.isoformat(timespec="seconds") if since else None,
        "votes": vote_count(session, name, since),
        "pairs": pairs,
        "thumbs": [vars(t) for t in thumb_counts(session, name, since)],
        "hard_prompts": len(hard_prompts(session, name)),
    }


def summary_since_last(sessions: sessionmaker[Session], params: Params, reader: str) -> dict[str, Any]:
    """The feedback since `reader` last asked (all of it the first time); the mark moves to now."""
    now = datetime.now(timezone.utc)
    with sessions.begin() as session:
        mark = session.execute(select(SummaryMark).where(SummaryMark.reader == reader)).scalar_one_or_none()
        since = mark.at.replace(tzinfo=timezone.utc) if mark is not None else None
        summary = summarise(session, params, since)
        if mark is None:
            session.add(SummaryMark(reader=reader, at=now))
        else:
            mark.at = now
    return summary


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The summary as Markdown lines (the flow's artifact, the CLI)."""
    since = f"since {summary['since']}" if summary["since"] else "so far"
    lines = [f"{summary['votes']} votes {since}; {summary['hard_prompts']} hard prompts in all."]
    for pair in summary["pairs"]:
        if pair["decided"]:
            versions = f"version {pair['version']} vs {pair['other']}"
            lines.append(
                f"- {versions}: preferred in {pair['wins']} of {pair['decided']} "
                f"(win rate {pair['rate']:.2f}, {pair['confidence']:.0%} interval [{pair['low']:.2f}, "
                f"{pair['high']:.2f}]), {pair['both_bad']} both bad"
            )
        else:
            lines.append(
                f"- version {pair['version']} vs {pair['other']}: {pair['both_bad']} both bad, none decided"
            )
    for thumbs in summary["thumbs"]:
        lines.append(f"- version {thumbs['version']}: {thumbs['up']} thumbs up, {thumbs['down']} down")
    return lines
