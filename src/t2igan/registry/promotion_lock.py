"""The lock around read-decide-move of @champion, on whatever every promoter shares.

Two pipelines that finish together must not both read the old champion and both move the alias: the slower
one would replace a better model. Which lock serialises them depends on where the registry lives:
- a PostgreSQL advisory lock when `T2IGAN_PROMOTION_LOCK_URL` names a database (team mode sets it to the
  tracking server's own): every host that talks to that server takes the same lock, and a holder that dies
  releases it with its connection;
- a file lock beside a local sqlite store, which only this machine's processes can reach;
- for a tracking server with no lock database, nothing can be shared: a warning says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from t2igan.env import LOCK_URL_ENV
from t2igan.errors import ConfigError, TransientError
from t2igan.paths import ProjectPaths
from t2igan.tracking import local_store_dir, tracking_uri

log = logging.getLogger(__name__)

WAIT_SECONDS = 300  # a promotion re-scores the champion: one generation and feature pass, a few minutes at most


def lock_key(model_name: str) -> int:
    """The advisory lock's 64-bit key: the same on every host for the same registered model."""
    digest = hashlib.blake2b(f"t2igan.promotion:{model_name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def promotion_lock(paths: ProjectPaths, model_name: str, wait_s: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold the promotion lock of `model_name` for the block (waiting up to `wait_s`, then exit 75)."""
    url = os.environ.get(LOCK_URL_ENV)
    if url:
        with advisory_lock(url, lock_key(model_name), wait_s, model_name):
            yield
        return
    lock_dir = local_store_dir(paths)
    if lock_dir is None:
        log.warning(
            "promotions at %s are not serialised across hosts: set %s to a PostgreSQL database all promoters "
            "reach (team mode sets it to the tracking server's)",
            tracking_uri(paths),
            LOCK_URL_ENV,
        )
        yield
        return
    from filelock import FileLock

    lock_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_dir / ".promotion.lock"), timeout=wait_s):
        yield


def _connect(url: str) -> tuple[Any, Any]:
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ConfigError(f"{LOCK_URL_ENV}: not a database URL") from None
    backend = parsed.get_backend_name()
    if backend != "postgresql":
        raise ConfigError(f"{LOCK_URL_ENV}: the promotion lock needs PostgreSQL, not {backend}")
    if parsed.drivername == backend:  # no driver named: the one team mode installs (SQLAlchemy's is psycopg 3)
        parsed = parsed.set(drivername="postgresql+psycopg2")
    engine = sqlalchemy.create_engine(parsed, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        return engine, engine.connect()
    except sqlalchemy.exc.OperationalError as exc:
        engine.dispose()
        where = parsed.render_as_string(hide_password=True)
        raise TransientError(f"promotion lock database {where} unreachable: {str(exc.orig).strip()}") from None


@contextlib.contextmanager
def advisory_lock(url: str, key: int, wait_s: float, model_name: str) -> Iterator[None]:
    """A session-level `pg_advisory_lock`, on its own connection, given up after `wait_s` (lock_timeout)."""
    import sqlalchemy

    engine, connection = _connect(url)
    try:
        connection.execute(sqlalchemy.text(f"SET lock_timeout = '{int(wait_s * 1000)}ms'"))
        try:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
        except sqlalchemy.exc.OperationalError as exc:
            raise TransientError(
                f"another promotion of {model_name} held the lock for over {wait_s:g}s "
                f"({str(exc.orig).strip()}); run register again when it has finished"
            ) from None
        log.debug("holding the promotion lock of %s (advisory key %d)", model_name, key)
        try:
            yield
        finally:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    finally:
        connection.close()
        engine.dispose()
