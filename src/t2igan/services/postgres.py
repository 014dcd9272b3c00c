"""Team mode's PostgreSQL: one cluster under the services directory, on the team's address, run by `pg_ctl`.

Debian's `postgresql` package provides the binaries (in /usr/lib/postgresql/<version>/bin, not on PATH);
`make setup-services` installs it. The server refuses to run as root, so as root the cluster belongs to the
package's `postgres` user and its commands run through `runuser`.

Authentication: over TCP, `scram-sha-256` with the password in team.env, and only from the address ranges
given (`pg_hba.conf` is written at each start, so a cluster from before passwords is brought up to date). The
Unix socket trusts its caller, but it lives in a directory only the cluster's owner (and root) may enter:
that is how `services` itself sets the password and creates the databases, with no password to pass around.
The password reaches the server only as a SCRAM verifier computed here (`ALTER ROLE ... PASSWORD 'SCRAM-...'`),
so not even the server's log could show it.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from t2igan.errors import ConfigError, TransientError
from t2igan.io import write_text
from t2igan.services.layout import ServicesLayout

if TYPE_CHECKING:
    import sqlalchemy

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
    auth = ["--auth-local=trust", "--auth-host=scram-sha-256"]
    _run([initdb, "-D", str(data), "-U", SUPERUSER, *auth, "-E", "UTF8", "--locale=C"], "initdb")


def hba_rules(allow: tuple[str, ...]) -> str:
    """pg_hba.conf: the owner's socket, then passwords (SCRAM) from the allowed ranges and nowhere else."""
    lines = [
        "# written by `t2igan services start` at each start; edits are lost",
        "local all all trust  # the socket's directory admits only the cluster's owner",
        *(f"host all all {network} scram-sha-256" for network in allow),
    ]
    return "\n".join(lines) + "\n"


def _write_hba(layout: ServicesLayout, allow: tuple[str, ...]) -> None:
    path = layout.postgres / "pg_hba.conf"
    write_text(path, hba_rules(allow))
    path.chmod(0o600)
    _hand_to_owner(path)


def is_running(layout: ServicesLayout) -> bool:
    if not (layout.postgres / "PG_VERSION").is_file():
        return False
    status = subprocess.run(
        _as_owner([str(binaries() / "pg_ctl"), "status", "-D", str(layout.postgres)]),
        capture_output=True,
        check=False,
    )
    return status.returncode == 0


def start(layout: ServicesLayout, host: str, port: int, allow: tuple[str, ...]) -> bool:
    """Start the cluster on `host`:`port` unless it runs; True when started now."""
    ensure_cluster(layout)
    if is_running(layout):
        log.info("postgres already running (%s)", layout.postgres)
        return False
    log_file = layout.log_file("postgres")
    for directory in (layout.sockets, log_file.parent):
        directory.mkdir(parents=True, exist_ok=True)
    log_file.touch()
    layout.sockets.chmod(0o700)
    _hand_to_owner(layout.postgres, layout.sockets, log_file)
    _write_hba(layout, allow)
    options = f"-h {host} -p {port} -k {layout.sockets}"
    pg_ctl = str(binaries() / "pg_ctl")
    _run(
        [pg_ctl, "-D", str(layout.postgres), "-l", str(log_file), "-o", options, "-w", "-t", "60", "start"],
        f"starting PostgreSQL (log {log_file})",
    )
    log.info("postgres started on %s:%d", host, port)
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


def url(host: str, port: int, database: str, driver: str = "psycopg2") -> str:
    """A SQLAlchemy URL of one of the cluster's databases (`driver`: psycopg2, or asyncpg for Prefect).

    No password: the client's libpq (or asyncpg) takes it from PGPASSWORD, which team.env sets.
    """
    return f"postgresql+{driver}://{SUPERUSER}@{host}:{port}/{database}"


def _owner_engine(layout: ServicesLayout, port: int) -> sqlalchemy.Engine:
    """The superuser over the cluster's socket (trusted: only the owner can reach it)."""
    import sqlalchemy

    socket_url = f"postgresql+psycopg2://{SUPERUSER}@/postgres?host={layout.sockets}&port={port}"
    return sqlalchemy.create_engine(socket_url, isolation_level="AUTOCOMMIT")


def set_password(layout: ServicesLayout, port: int, password: str) -> None:
    """Give the superuser `password`, sent as a SCRAM verifier; connections open now are not dropped."""
    from psycopg2.extensions import encrypt_password

    engine = _owner_engine(layout, port)
    try:
        raw = engine.raw_connection()
        try:
            verifier = encrypt_password(password, SUPERUSER, raw.dbapi_connection, "scram-sha-256")
            cursor = raw.cursor()  # psycopg2 quotes the verifier; no SQL text is parsed for parameters
            cursor.execute(f'ALTER ROLE "{SUPERUSER}" PASSWORD %s', (verifier,))
            cursor.close()
        finally:
            raw.close()
    finally:
        engine.dispose()


def ensure_databases(layout: ServicesLayout, port: int, names: tuple[str, ...]) -> None:
    """Create the databases that do not exist yet (MLflow's and Prefect's; their tables are theirs)."""
    import sqlalchemy

    engine = _owner_engine(layout, port)
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
