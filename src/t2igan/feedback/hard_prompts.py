"""Captions people disliked, as a versioned file the next evaluation scores separately.

A caption is hard when a comparison on it was voted "both bad" or an image drawn for it got a thumb down.
`t2igan feedback export` writes them to `data/hard_prompts.csv` (a DVC output of the `hard_prompts` stage:
each export that changes the set is a new version, and evaluate, which depends on it, reruns only then),
sorted and deduplicated so that the same feedback gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from t2igan.feedback.schema import BOTH_BAD, Thumb, Vote
from t2igan.io import write_text

COLUMNS = ["caption", "both_bad", "thumbs_down"]


@dataclass(frozen=True)
class HardPrompt:
    caption: str
    both_bad: int
    thumbs_down: int


def hard_prompts(session: Session, model_name: str) -> list[HardPrompt]:
    both_bad = dict(
        session.execute(
            select(Vote.caption, func.count())
            .where((Vote.model_name == model_name) & (Vote.choice == BOTH_BAD))
            .group_by(Vote.caption)
        ).all()
    )
    thumbs_down = dict(
        session.execute(
            select(Thumb.caption, func.count())
            .where((Thumb.model_name == model_name) & (Thumb.up.is_(False)))
            .group_by(Thumb.caption)
        ).all()
    )
    captions = sorted(set(both_bad) | set(thumbs_down))
    return [HardPrompt(c, int(both_bad.get(c, 0)), int(thumbs_down.get(c, 0))) for c in captions]


def write_hard_prompts(prompts: list[HardPrompt], path: Path) -> None:
    frame = pd.DataFrame([vars(p) for p in prompts], columns=COLUMNS)
    write_text(path, frame.to_csv(index=False))  # temp file, then rename


def read_hard_prompts(path: Path) -> list[str]:
    """The captions of a hard-prompts file; none when it does not exist (no feedback yet)."""
    if not path.is_file():
        return []
    frame = pd.read_csv(path, dtype={"caption": str}, keep_default_na=False)
    return [c for c in frame["caption"].tolist() if c.strip()]
