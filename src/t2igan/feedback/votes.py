"""Writing feedback: one vote or thumb per transaction, checked against what was shown.

A vote is refused (never half-written) when the comparison was not a comparison, the choice is not one of
left / right / both bad, the token was issued to another browser session, or the comparison was voted on
already: the database's unique comparison id decides that last one, so two racing copies of one vote cannot
both count.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from t2igan.feedback.tables import BOTH_BAD, CHOICES, SINGLE, Thumb, Vote
from t2igan.feedback.tokens import Shown


class RefusedFeedback(ValueError):
    """A vote or thumb that does not match what was shown; the message says why."""


class AlreadyRecorded(RefusedFeedback):
    """The same vote (or thumb on the same image) came twice: the first one counts."""


def _check_session(shown: Shown, session_id: str) -> None:
    if shown.session_id != session_id:
        raise RefusedFeedback("the comparison was shown to another session")


def record_vote(sessions: sessionmaker[Session], shown: Shown, choice: str, session_id: str) -> Vote:
    if not shown.is_comparison:
        raise RefusedFeedback("only a comparison of two models can be voted on; use thumbs for single images")
    if choice not in CHOICES:
        raise RefusedFeedback(f"choice must be one of {', '.join(CHOICES)}, got {choice!r}")
    _check_session(shown, session_id)
    vote = Vote(
        comparison_id=shown.comparison_id,
        created_at=datetime.now(timezone.utc),
        session_id=session_id,
        model_name=shown.model_name,
        caption=shown.caption,
        seeds=list(shown.seeds),
        truncation=shown.truncation,
        left_version=shown.versions["left"],
        right_version=shown.versions["right"],
        choice=choice,
        winner_version=None if choice == BOTH_BAD else shown.versions[choice],
    )
    _insert(sessions, vote, "this comparison was voted on already")
    return vote


def record_thumb(
    sessions: sessionmaker[Session], shown: Shown, side: str, image_index: int, up: bool, session_id: str
) -> Thumb:
    if side not in shown.versions:
        sides = ", ".join(shown.versions)
        raise RefusedFeedback(f"side must be one of {sides} for this page, got {side!r}")
    if not 0 <= image_index < len(shown.seeds):
        raise RefusedFeedback(f"image must be between 0 and {len(shown.seeds) - 1}, got {image_index}")
    _check_session(shown, session_id)
    thumb = Thumb(
        comparison_id=shown.comparison_id,
        created_at=datetime.now(timezone.utc),
        session_id=session_id,
        model_name=shown.model_name,
        version=shown.versions[side],
        side=side,
        image_index=image_index,
        caption=shown.caption,
        seed=shown.seeds[image_index],
        up=up,
    )
    _insert(sessions, thumb, "this image got a thumb already")
    return thumb


def _insert(sessions: sessionmaker[Session], row: Vote | Thumb, duplicate: str) -> None:
    """One row in its own transaction; a unique key already taken is `AlreadyRecorded(duplicate)`."""
    try:
        with sessions.begin() as session:
            session.add(row)
    except IntegrityError:
        raise AlreadyRecorded(duplicate) from None


__all__ = ["SINGLE", "AlreadyRecorded", "RefusedFeedback", "record_thumb", "record_vote"]
