"""The feedback tables. Migrations (t2igan/feedback/migrations) create and change them; this is their shape.

A vote records what was shown (caption, seeds, which version was on which side) and what the person chose,
with an anonymous session id and nothing personal. Each comparison can be voted on once (`comparison_id` is
unique), which is what refuses a replayed vote; each image of a comparison can get one thumb.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

LEFT, RIGHT, BOTH_BAD = "left", "right", "both_bad"
CHOICES = (LEFT, RIGHT, BOTH_BAD)
SINGLE = "single"  # the side of an image shown alone (try mode)
SIDES = (LEFT, RIGHT, SINGLE)


class Base(DeclarativeBase):
    pass


class Vote(Base):
    """One blind comparison of two versions on the same caption and seeds, and which one fit it better."""

    __tablename__ = "votes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    comparison_id: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    session_id: Mapped[str] = mapped_column(String(36), nullable=False)
    model_name: Mapped[str] = mapped_column(String(200), nullable=False)
    caption: Mapped[str] = mapped_column(Text, nullable=False)
    seeds: Mapped[list[int]] = mapped_column(JSON, nullable=False)
    # Float, as migration 0001 made it (a bare `float` is Double since SQLAlchemy 2.1: the test that compares
    # the migrated schema with these tables caught it)
    truncation: Mapped[float | None] = mapped_column(Float(), nullable=True)
    left_version: Mapped[str] = mapped_column(String(40), nullable=False)
    right_version: Mapped[str] = mapped_column(String(40), nullable=False)
    choice: Mapped[str] = mapped_column(String(16), nullable=False)
    # the version chosen (None for both bad): what win rates count
    winner_version: Mapped[str | None] = mapped_column(String(40), nullable=True)


class Thumb(Base):
    """Thumbs up or down on one image that was shown, alone or in a comparison."""

    __tablename__ = "thumbs"
    __table_args__ = (UniqueConstraint("comparison_id", "side", "image_index", name="uq_thumb_image"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    comparison_id: Mapped[str] = mapped_column(String(36), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    session_id: Mapped[str] = mapped_column(String(36), nullable=False)
    model_name: Mapped[str] = mapped_column(String(200), nullable=False)
    version: Mapped[str] = mapped_column(String(40), nullable=False)
    side: Mapped[str] = mapped_column(String(8), nullable=False)
    image_index: Mapped[int] = mapped_column(Integer, nullable=False)
    caption: Mapped[str] = mapped_column(Text, nullable=False)
    seed: Mapped[int] = mapped_column(BigInteger, nullable=False)
    up: Mapped[bool] = mapped_column(Boolean, nullable=False)


class SummaryMark(Base):
    """When a reader (the scheduled flow) last summarised the feedback: its next summary starts there."""

    __tablename__ = "summary_marks"

    reader: Mapped[str] = mapped_column(String(100), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
