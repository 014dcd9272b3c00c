"""Where the feedback lives and how it is opened: a sqlite file by default, team mode's PostgreSQL when set.

`T2IGAN_FEEDBACK_URL` names the database (team mode's `team.env` points it at the `feedback` database of its
PostgreSQL); without it the project keeps `feedback/feedback.db`. Opening always migrates to the newest
schema with Alembic first, so an older database keeps working after an upgrade of t2igan.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from t2igan.env import FEEDBACK_URL_ENV
from t2igan.errors import ConfigError, TransientError
from t2igan.paths import ProjectPaths

MIGRATIONS = Path(__file__).with_name("migrations")
# The advisory lock every migrator of a PostgreSQL feedback database takes (any 64-bit key of our own).
MIGRATION_LOCK = int.from_bytes(
    hashlib.blake2b(b"t2igan.feedback.migrate", digest_size=8).digest(), "big", signed=True
)


def feedback_url(paths: ProjectPaths) -> str:
    return os.environ.get(FEEDBACK_URL_ENV) or f"sqlite:///{paths.root / 'feedback' / 'feedback.db'}"


def _parsed(url: str) -> sqlalchemy.URL:
    try:
        parsed = sqlalchemy.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ConfigError(f"{FEEDBACK_URL_ENV}: {url!r} is not a database URL") from None
    if (
        parsed.drivername == "postgresql"
    ):  # the driver team mode installs (SQLAlchemy 2.1's default is psycopg 3)
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # WAL: the studio's readers do not block its writer; a busy writer is waited for, not an error.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(url: str) -> Engine:
    parsed = _parsed(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sqlalchemy.create_engine(parsed, pool_pre_ping=True)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(url: str) -> object:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option(
        "sqlalchemy.url", _parsed(url).render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to `revision` (Alembic, on this engine's connection, in one transaction), one
    migrator at a time: the studio, the flow and the CLI may all open a new database at once."""
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with _sqlite_migration_lock(engine), engine.begin() as connection:
            if engine.dialect.name == "postgresql":  # held to the end of this transaction, on every host
                connection.execute(
                    sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            config.attributes["connection"] = connection  # type: ignore[attr-defined]
            command.upgrade(config, revision)  # type: ignore[arg-type]
    except sqlalchemy.exc.OperationalError as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise TransientError(f"feedback database {where} unreachable: {str(exc.orig).strip()}") from None


@contextlib.contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    """A file lock beside a sqlite database (PostgreSQL's lock is taken in the migrating transaction)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    from filelock import FileLock

    with FileLock(f"{database}.migrate.lock"):
        yield


def open_database(url: str) -> sessionmaker[Session]:
    """Sessions on the feedback database at `url`, migrated to the newest schema."""
    engine = create_engine(url)
    upgrade(engine)
    return sessionmaker(engine, expire_on_commit=False)
