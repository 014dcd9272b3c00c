"""Team mode's PostgreSQL: one cluster under the services directory, on 127.0.0.1, managed by `pg_ctl`.

Debian's `postgresql` package provides the binaries (in /usr/lib/postgresql/<version>/bin, not on PATH);
`make setup-services` installs it. The server refuses to run as root, so as root the cluster belongs to the
package's `postgres` user and its commands run through `runuser`. Authentication is `trust` on 127.0.0.1
only: this is a development cluster for one machine; a team's real server has passwords (the URLs take one).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from t2igan.errors import ConfigError, TransientError
from t2igan.services.layout import HOST, ServicesLayout

log = logging.getLogger(__name__)

SUPERUSER = "t2igan"
OWNER = "postgres"  # the Debian package's system user, who owns the cluster when we run as root
INSTALL_HINT = "install it with `make setup-services` (Debian: apt-get install postgresql)"


def binaries() -> Path:
    """The directory of `initdb` and `pg_ctl`: on PATH, or the newest Debian version's."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if versions:
        return versions[-1].parent
    raise ConfigError(f"PostgreSQL is not installed: {INSTALL_HINT}")


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", OWNER, "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str], what: str) -> str:
    done = subprocess.run(_as_owner(command), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise TransientError(
            f"{what} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-2000:]}"
        )
    return done.stdout


def _hand_to_owner(*paths: Path) -> None:
    """As root, the cluster's files belong to `postgres`, who must also be able to reach them."""
    if os.geteuid() != 0:
        return
    try:
        shutil.chown(paths[0], user=OWNER)
    except LookupError:
        raise ConfigError(f"no `{OWNER}` user to run PostgreSQL as: {INSTALL_HINT}") from None
    for path in paths[1:]:
        shutil.chown(path, user=OWNER)
    reach = subprocess.run(_as_owner(["test", "-w", str(paths[0])]), check=False)
    if reach.returncode != 0:
        raise ConfigError(
            f"{paths[0]}: the `{OWNER}` user cannot reach this directory (a parent is not searchable by "
            "others); put the services directory elsewhere (--dir) or `chmod o+x` its parents"
        )


def ensure_cluster(layout: ServicesLayout) -> None:
    """Create the cluster at the first start (initdb); later starts find it."""
    data = layout.postgres
    if (data / "PG_VERSION").is_file():
        return
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    _hand_to_owner(data)
    log.info("creating the PostgreSQL cluster in %s", data)
    initdb = str(binaries() / "initdb")
    _run([initdb, "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C"], "initdb")


def is_running(layout: ServicesLayout) -> bool:
    if not (layout.postgres / "PG_VERSION").is_file():
        return False
    status = subprocess.run(
        _as_owner([str(binaries() / "pg_ctl"), "status", "-D", str(layout.postgres)]),
        capture_output=True,
        check=False,
    )
    return status.returncode == 0


def start(layout: ServicesLayout, port: int) -> bool:
    """Start the cluster on 127.0.0.1:`port` unless it runs; True when started now."""
    ensure_cluster(layout)
    if is_running(layout):
        log.info("postgres already running (%s)", layout.postgres)
        return False
    log_file = layout.log_file("postgres")
    for directory in (layout.sockets, log_file.parent):
        directory.mkdir(parents=True, exist_ok=True)
    log_file.touch()
    _hand_to_owner(layout.postgres, layout.sockets, log_file)
    options = f"-h {HOST} -p {port} -k {layout.sockets}"
    pg_ctl = str(binaries() / "pg_ctl")
    _run(
        [pg_ctl, "-D", str(layout.postgres), "-l", str(log_file), "-o", options, "-w", "-t", "60", "start"],
        f"starting PostgreSQL (log {log_file})",
    )
    log.info("postgres started on %s:%d", HOST, port)
    return True


def stop(layout: ServicesLayout) -> bool:
    if not is_running(layout):
        return False
    _run(
        [str(binaries() / "pg_ctl"), "-D", str(layout.postgres), "-m", "fast", "-w", "stop"],
        "stopping PostgreSQL",
    )
    log.info("postgres stopped")
    return True


def url(port: int, database: str, driver: str = "psycopg2") -> str:
    """A SQLAlchemy URL of one of the cluster's databases (`driver`: psycopg2, or asyncpg for Prefect)."""
    return f"postgresql+{driver}://{SUPERUSER}@{HOST}:{port}/{database}"


def ensure_databases(port: int, names: tuple[str, ...]) -> None:
    """Create the databases that do not exist yet (MLflow's and Prefect's; their tables are theirs)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url(port, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            existing = {
                row[0] for row in connection.execute(sqlalchemy.text("SELECT datname FROM pg_database"))
            }
            for name in names:
                if name not in existing:
                    connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
                    log.info("created database %s", name)
    finally:
        engine.dispose()
