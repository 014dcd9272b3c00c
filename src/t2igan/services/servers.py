"""The commands that start team mode's servers, and how each one says it is ready.

- MLflow: `mlflow server --app-name basic-auth` on PostgreSQL, proxying artifacts (`--serve-artifacts`):
  clients upload through the server, so no client needs the artifact store's credentials, and every request
  is authenticated (t2igan.services.mlflow_auth).
- Prefect: `prefect server start` on PostgreSQL (asyncpg) with its API authentication string, a process work
  pool, and `prefect worker start` for it; the worker's flow runs inherit the team environment, so they log to
  the same MLflow server.
- S3: moto's server application (t2igan.services.s3_server), an S3 endpoint with IAM authentication for
  the DVC remote in tests and demos (t2igan.services.s3). It keeps objects in memory: a team uses real S3
  or MinIO (README, team mode).

Every server binds the team's address (`--host`); none gets a secret in its arguments (`ps` shows those):
each reads its own from the environment.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from t2igan.env import WORK_POOL_ENV, script, subprocess_env
from t2igan.errors import TransientError
from t2igan.services import mlflow_auth, postgres, s3_server
from t2igan.services import s3 as s3_store
from t2igan.services.credentials import Credentials
from t2igan.services.layout import ServicesConfig, ServicesLayout


@dataclass(frozen=True)
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    health: Callable[[], bool]


def s3_endpoint(config: ServicesConfig) -> str:
    return f"http://{config.host}:{config.ports.s3}"


def mlflow_url(config: ServicesConfig) -> str:
    return f"http://{config.host}:{config.ports.mlflow}"


def prefect_api(config: ServicesConfig) -> str:
    return f"http://{config.host}:{config.ports.prefect}/api"


def s3(config: ServicesConfig) -> Server:
    command = [sys.executable, "-m", "t2igan.services.s3_server", "--host", config.host]
    command += ["--port", str(config.ports.s3)]
    env = subprocess_env(overrides=s3_store.server_env())
    return Server("s3", command, env, lambda: answers(f"{s3_endpoint(config)}{s3_server.HEALTH_PATH}"))


def allowed_hosts(config: ServicesConfig) -> str:
    """The Host headers MLflow's server accepts (its guard against DNS rebinding): the team's address."""
    names = [config.host, socket.gethostname()] + (["localhost"] if config.host.startswith("127.") else [])
    return ",".join(item for name in names for item in (name, f"{name}:{config.ports.mlflow}"))


def mlflow(layout: ServicesLayout, config: ServicesConfig, credentials: Credentials) -> Server:
    destination = config.artifacts_destination or layout.artifacts.as_uri()
    command = [script("mlflow"), "server", "--app-name", "basic-auth"]
    command += ["--host", config.host, "--port", str(config.ports.mlflow)]
    command += ["--backend-store-uri", postgres.url(config.host, config.ports.postgres, "mlflow")]
    command += ["--serve-artifacts", "--artifacts-destination", destination, "--workers", "2"]
    command += ["--allowed-hosts", allowed_hosts(config)]
    mlflow_auth.write_config(layout, config)
    env = subprocess_env(
        overrides={
            **credentials.postgres_env(),
            **mlflow_auth.server_env(layout, credentials.mlflow_admin),
            # s3:// artifacts go to the team's S3 endpoint with the team's key
            **credentials.s3_env(),
            "MLFLOW_S3_ENDPOINT_URL": s3_endpoint(config),
        }
    )
    return Server("mlflow", command, env, lambda: answers(f"{mlflow_url(config)}/health"))


def prefect_env(
    layout: ServicesLayout,
    config: ServicesConfig,
    credentials: Credentials,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    return subprocess_env(
        overrides={
            "PREFECT_HOME": str(layout.prefect_home),
            "PREFECT_API_DATABASE_CONNECTION_URL": postgres.url(
                config.host, config.ports.postgres, "prefect", "asyncpg"
            ),
            **credentials.postgres_env(),
            "PREFECT_SERVER_API_AUTH_STRING": credentials.prefect_auth,
            **(extra or {}),
        }
    )


def prefect_server(layout: ServicesLayout, config: ServicesConfig, credentials: Credentials) -> Server:
    command = [script("prefect"), "server", "start", "--host", config.host, "--port", str(config.ports.prefect)]
    env = prefect_env(layout, config, credentials)
    return Server("prefect", command, env, lambda: answers(f"{prefect_api(config)}/health"))


def worker_command(pool: str, name: str) -> list[str]:
    command = [script("prefect"), "worker", "start", "--pool", pool, "--type", "process"]
    return [*command, "--name", name]


def worker(home_env: Mapping[str, str], name: str, team_env: Mapping[str, str]) -> Server:
    """A worker of team.env's pool; its flow runs get `team_env`, what a project gets from team.env."""
    api, auth, pool = team_env["PREFECT_API_URL"], team_env["PREFECT_API_AUTH_STRING"], team_env[WORK_POOL_ENV]
    env = subprocess_env(overrides={**home_env, **team_env, "PREFECT_WORKER_QUERY_SECONDS": "2"})
    return Server("worker", worker_command(pool, name), env, lambda: worker_online(api, auth, pool, name))


def prefect_http(api: str, auth: str) -> httpx.Client:
    """A client of the Prefect server's REST API with the team's authentication string."""
    user, _, password = auth.partition(":")
    return httpx.Client(base_url=api, auth=(user, password), timeout=10)


def worker_online(api: str, auth: str, pool: str, name: str) -> bool:
    with prefect_http(api, auth) as http:
        response = http.post(f"/work_pools/{pool}/workers/filter", json={})
    return response.status_code == 200 and any(
        w.get("name") == name and w.get("status") == "ONLINE" for w in response.json()
    )


def ensure_pool(api: str, auth: str, pool: str, env: Mapping[str, str]) -> None:
    """Create the process work pool unless it exists (the Prefect CLI fills in the process job template)."""
    with prefect_http(api, auth) as http:
        if http.get(f"/work_pools/{pool}").status_code == 200:
            return
    created = subprocess.run(
        [script("prefect"), "work-pool", "create", pool, "--type", "process"],
        env=subprocess_env(overrides={**env, "PREFECT_API_URL": api, "PREFECT_API_AUTH_STRING": auth}),
        capture_output=True,
        text=True,
        check=False,
    )
    if created.returncode != 0:
        raise TransientError(f"creating the work pool {pool} failed: {created.stderr.strip()[-1000:]}")


def answers(url: str) -> bool:
    return httpx.get(url, timeout=5).status_code == 200
