"""Alembic's environment for the feedback database: run on the connection t2igan.feedback.database passes."""

from __future__ import annotations

from alembic import context

from t2igan.feedback.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic upgrade --sql`: the statements for a DBA, from the configured URL
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"), target_metadata=Base.metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    # batch mode: sqlite cannot ALTER most things, Alembic rebuilds the table instead
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
