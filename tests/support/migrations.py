"""Alembic's view of a feedback database, for the migration tests: its revision, and a way back."""

from __future__ import annotations

from sqlalchemy import Engine

from t2igan.feedback.database import alembic_config


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection  # type: ignore[attr-defined]
        command.downgrade(config, revision)  # type: ignore[arg-type]


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
