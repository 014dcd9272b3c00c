"""votes and thumbs

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("comparison_id", sa.String(36), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("caption", sa.Text(), nullable=False),
        sa.Column("seeds", sa.JSON(), nullable=False),
        sa.Column("truncation", sa.Float(), nullable=True),
        sa.Column("left_version", sa.String(40), nullable=False),
        sa.Column("right_version", sa.String(40), nullable=False),
        sa.Column("choice", sa.String(16), nullable=False),
        sa.Column("winner_version", sa.String(40), nullable=True),
    )
    op.create_index("ix_votes_created_at", "votes", ["created_at"])
    op.create_table(
        "thumbs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("comparison_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("image_index", sa.Integer(), nullable=False),
        sa.Column("caption", sa.Text(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("up", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("comparison_id", "side", "image_index", name="uq_thumb_image"),
    )
    op.create_index("ix_thumbs_created_at", "thumbs", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_thumbs_created_at", "thumbs")
    op.drop_table("thumbs")
    op.drop_index("ix_votes_created_at", "votes")
    op.drop_table("votes")
