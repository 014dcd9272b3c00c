"""The captions people disliked: the hard prompts, read from the votes and thumbs in the feedback database.

A caption is hard when a comparison on it was voted "both bad" or an image drawn for it got a thumb down.
The `prompts` stage (`t2igan prompts`) writes them to `data/hard_prompts.csv` (t2igan.data.hard_prompts),
which the next evaluation scores separately.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from t2igan.data.hard_prompts import HardPrompt
from t2igan.feedback.tables import BOTH_BAD, Thumb, Vote


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
