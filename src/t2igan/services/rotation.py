"""`t2igan services rotate`: every password and key changed, team.env rewritten, nothing in the stores lost.

Each credential changes where its server keeps it, using the current one (S3: a new IAM key, then the old
one deleted; MLflow: the administrator's and each user's password through the auth API; PostgreSQL: a new
SCRAM verifier over the owner's socket; Prefect: a new string, which its server reads at start). team.env is
rewritten after each step, so a failure half-way leaves a file that matches the servers. Then the MLflow and
Prefect servers and the worker restart with the new file: connections they hold were made with the old
password. Clients still holding the old file are refused by every server; joined hosts copy the new file and
join again.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from t2igan.errors import ConfigError
from t2igan.services import mlflow_auth, postgres, processes, servers, team, users
from t2igan.services import s3 as s3_store
from t2igan.services.credentials import ADMIN, Credentials, read_env_file
from t2igan.services.layout import ServicesLayout

log = logging.getLogger(__name__)

SERVERS = ("postgres", "s3", "mlflow", "prefect")  # each holds a credential; the worker only uses them


def rotate(layout: ServicesLayout) -> list[str]:
    """Rotate everything; the steps done, in order."""
    config = layout.config()
    current = Credentials.from_env(read_env_file(layout.env_file))
    if current is None or not current.mlflow_admin:
        raise ConfigError(f"{layout.env_file}: no team credentials to rotate (start the services first)")
    states = team.status(layout)
    stopped = [name for name in SERVERS if states[name] == "stopped"]
    if stopped:
        raise ConfigError(f"rotate needs every server running; stopped: {', '.join(stopped)}")
    had_worker = states["worker"] != "stopped"
    done = []
    fresh = current.rotated()

    key_id, secret = s3_store.rotate_key(
        servers.s3_endpoint(config), current.s3_key_id or "", current.s3_secret or ""
    )
    current = replace(current, s3_key_id=key_id, s3_secret=secret)
    team.save(layout, config, current)
    done.append("s3: new access key, the old one deleted")

    tracking = servers.mlflow_url(config)
    mlflow_auth.set_password(tracking, current.mlflow_env(), ADMIN, fresh.mlflow_admin)
    current = replace(current, mlflow_admin=fresh.mlflow_admin)
    team.save(layout, config, current)
    users.rotate_passwords(layout, tracking, current.mlflow_env())
    done.append("mlflow: new passwords for the administrator and every user")

    postgres.set_password(layout, config.ports.postgres, fresh.postgres)
    current = replace(current, postgres=fresh.postgres)
    team.save(layout, config, current)
    done.append("postgres: new password")

    current = replace(current, prefect=fresh.prefect)
    team.save(layout, config, current)
    for name in ("worker", "prefect", "mlflow"):  # the worker first: no flow run starts in between
        processes.stop(name, layout.pid_file(name))
    team.start_middle(layout, config, current, ("mlflow", "prefect"))
    if had_worker:
        team.start_worker(layout, team.team_env(config, current), f"{config.pool}-worker")
    done.append("prefect: new authentication string; the MLflow and Prefect servers (and worker) restarted")
    log.info("rotated: %s", "; ".join(done))
    return done
