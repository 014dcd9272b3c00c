"""Alembic's view of a feedback database, for the migration tests: its revision, and a way back."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

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


OPENER = """
import logging, sys, time
from pathlib import Path
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
from t2igan.feedback.database import open_database

url, go = sys.argv[1:]
while not Path(go).exists():
    time.sleep(0.01)
open_database(url)
"""


def open_at_once(url: str, scratch: Path, openers: int) -> list[str]:
    """`openers` processes that open the database at the same moment; each one's log (Alembic's lines)."""
    go = scratch / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(openers)
    ]
    time.sleep(3)  # every opener has imported what it needs and waits at the start line
    go.touch()
    logs = []
    for process in processes:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0, out[-3000:]
        logs.append(out)
    return logs
