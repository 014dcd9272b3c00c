"""`t2igan services join`: a worker for the team's pool on another machine, from a copy of team.env.

The file is checked against every server before anything starts: each must answer, and each must take the
file's credentials, so a stale file (from before a `rotate`) or another team's is refused in one line. Then
it is copied (0600) into this host's services directory, where the Makefile and `t2igan` find it as on the
server host, and a worker of the pool starts here; runs it executes log to the team's MLflow, push to its
DVC remote, read the votes and take the promotion lock, all with the file's addresses and credentials.
"""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from t2igan.env import FEEDBACK_URL_ENV, S3_ENDPOINT_ENV, WORK_POOL_ENV
from t2igan.errors import ConfigError, TransientError
from t2igan.services import processes, servers, team
from t2igan.services import s3 as s3_store
from t2igan.services.credentials import (
    MLFLOW_PASSWORD,
    MLFLOW_USERNAME,
    POSTGRES_PASSWORD,
    PREFECT_AUTH,
    S3_KEY_ID,
    S3_SECRET,
    read_env_file,
    write_env_file,
)
from t2igan.services.layout import ServicesLayout

REQUIRED = (
    "PREFECT_API_URL",
    PREFECT_AUTH,
    WORK_POOL_ENV,
    "MLFLOW_TRACKING_URI",
    MLFLOW_USERNAME,
    MLFLOW_PASSWORD,
    FEEDBACK_URL_ENV,
    POSTGRES_PASSWORD,
)


def read_team_env(source: Path) -> dict[str, str]:
    if not source.is_file():
        raise ConfigError(f"{source}: no such file (copy team.env from the server host's services directory)")
    env = read_env_file(source)
    missing = [key for key in REQUIRED if not env.get(key)]
    if missing:
        raise ConfigError(f"{source}: not a team.env of authenticated team mode (no {', '.join(missing)})")
    return env


def _refused(source: Path, server: str, url: str, why: str) -> ConfigError:
    return ConfigError(
        f"{source}: {server} at {url} refused its credentials ({why}); the file is stale (after "
        "`t2igan services rotate`) or another team's: copy the current team.env from the server host"
    )


def check_credentials(source: Path, env: dict[str, str]) -> None:
    """Each server takes the file's credentials, or one line says which refused it."""
    try:
        with servers.prefect_http(env["PREFECT_API_URL"], env[PREFECT_AUTH]) as http:
            answer = http.get(f"/work_pools/{env[WORK_POOL_ENV]}")
        if answer.status_code == 401:
            raise _refused(source, "Prefect", env["PREFECT_API_URL"], "401")
        mlflow = env["MLFLOW_TRACKING_URI"]
        answer = httpx.get(
            f"{mlflow}/api/2.0/mlflow/experiments/search",
            params={"max_results": 1},
            auth=(env[MLFLOW_USERNAME], env[MLFLOW_PASSWORD]),
            timeout=10,
        )
        if answer.status_code == 401:
            raise _refused(source, "MLflow", mlflow, "401")
    except httpx.HTTPError as error:
        raise TransientError(f"{source}: cannot reach the team's servers ({error})") from None
    _check_postgres(source, env)
    if env.get(S3_KEY_ID) and not s3_store.accepts(env[S3_ENDPOINT_ENV], env[S3_KEY_ID], env[S3_SECRET]):
        raise _refused(source, "S3", env[S3_ENDPOINT_ENV], "403")


def _check_postgres(source: Path, env: dict[str, str]) -> None:
    import psycopg2
    import sqlalchemy

    url = sqlalchemy.make_url(env[FEEDBACK_URL_ENV])
    try:
        psycopg2.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            dbname=url.database,
            password=env[POSTGRES_PASSWORD],
            connect_timeout=10,
        ).close()
    except psycopg2.OperationalError as error:
        if "password authentication failed" in str(error):
            raise _refused(
                source, "PostgreSQL", f"{url.host}:{url.port}", "password authentication failed"
            ) from None
        raise TransientError(f"{source}: cannot reach PostgreSQL at {url.host}:{url.port}") from None


def join(layout: ServicesLayout, source: Path, name: str | None, project: Path | None) -> dict[str, str]:
    """Check the file, keep a copy here, start this host's worker; what was done, for the command to say."""
    env = read_team_env(source)
    check_credentials(source, env)
    write_env_file(layout.env_file, env)
    worker_name = name or f"{env[WORK_POOL_ENV]}-{socket.gethostname()}"
    if processes.running(layout.pid_file("worker")) is not None:
        processes.stop("worker", layout.pid_file("worker"))  # a worker from an older file: start afresh
    team.start_worker(layout, env, worker_name)
    done = {"worker": f"{worker_name} joined pool {env[WORK_POOL_ENV]}", "environment": str(layout.env_file)}
    if project is not None and (remote := team.configure_dvc_remote(project, env)):
        done["dvc remote"] = f"{remote} (.dvc/config.local)"
    return done
