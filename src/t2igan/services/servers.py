"""The commands that start team mode's servers, and how each one says it is ready.

- MLflow: `mlflow server` on PostgreSQL, proxying artifacts (`--serve-artifacts`): clients upload through
  the server, so no client needs the artifact store's credentials.
- Prefect: `prefect server start` on PostgreSQL (asyncpg), a process work pool, and `prefect worker start`
  for it; the worker's flow runs inherit the team environment, so they log to the same MLflow server.
- S3: `moto_server`, a standalone S3 endpoint on 127.0.0.1 for the DVC remote in tests and demos. It keeps
  objects in memory: a team uses real S3 or MinIO (README, team mode).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from t2igan.env import script, subprocess_env
from t2igan.errors import TransientError
from t2igan.services import postgres
from t2igan.services.layout import BUCKET, HOST, ServicesConfig, ServicesLayout

# moto accepts any key; the same pair reaches the DVC remote, MLflow's s3:// artifacts and the tests.
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "t2igan",
    "AWS_SECRET_ACCESS_KEY": "t2igan",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    health: Callable[[], bool]


def s3_endpoint(config: ServicesConfig) -> str:
    return f"http://{HOST}:{config.ports.s3}"


def mlflow_url(config: ServicesConfig) -> str:
    return f"http://{HOST}:{config.ports.mlflow}"


def prefect_api(config: ServicesConfig) -> str:
    return f"http://{HOST}:{config.ports.prefect}/api"


def s3(config: ServicesConfig) -> Server:
    command = [script("moto_server"), "-H", HOST, "-p", str(config.ports.s3)]
    return Server("s3", command, subprocess_env(), lambda: answers(f"{s3_endpoint(config)}/moto-api/data.json"))


def mlflow(layout: ServicesLayout, config: ServicesConfig) -> Server:
    destination = config.artifacts_destination or layout.artifacts.as_uri()
    command = [script("mlflow"), "server", "--host", HOST, "--port", str(config.ports.mlflow)]
    command += ["--backend-store-uri", postgres.url(config.ports.postgres, "mlflow")]
    command += ["--serve-artifacts", "--artifacts-destination", destination, "--workers", "2"]
    # s3:// artifacts go to the local S3 endpoint unless this environment names another (AWS, MinIO)
    s3_defaults = {**S3_CREDENTIALS, "MLFLOW_S3_ENDPOINT_URL": s3_endpoint(config)}
    env = subprocess_env(overrides={key: os.environ.get(key) or value for key, value in s3_defaults.items()})
    return Server("mlflow", command, env, lambda: answers(f"{mlflow_url(config)}/health"))


def prefect_env(layout: ServicesLayout, config: ServicesConfig, extra: Mapping[str, str] | None = None) -> dict:
    return subprocess_env(
        overrides={
            "PREFECT_HOME": str(layout.prefect_home),
            "PREFECT_API_DATABASE_CONNECTION_URL": postgres.url(config.ports.postgres, "prefect", "asyncpg"),
            **(extra or {}),
        }
    )


def prefect_server(layout: ServicesLayout, config: ServicesConfig) -> Server:
    command = [script("prefect"), "server", "start", "--host", HOST, "--port", str(config.ports.prefect)]
    return Server(
        "prefect", command, prefect_env(layout, config), lambda: answers(f"{prefect_api(config)}/health")
    )


def worker(layout: ServicesLayout, config: ServicesConfig, team_env: Mapping[str, str]) -> Server:
    """The pool's worker; its flow runs get `team_env`, the same environment a project gets from team.env."""
    command = [script("prefect"), "worker", "start", "--pool", config.pool, "--type", "process"]
    command += ["--name", f"{config.pool}-worker"]
    env = prefect_env(layout, config, {**team_env, "PREFECT_WORKER_QUERY_SECONDS": "2"})
    return Server("worker", command, env, lambda: worker_online(config))


def worker_online(config: ServicesConfig) -> bool:
    response = httpx.post(f"{prefect_api(config)}/work_pools/{config.pool}/workers/filter", json={}, timeout=5)
    return response.status_code == 200 and any(w.get("status") == "ONLINE" for w in response.json())


def ensure_pool(layout: ServicesLayout, config: ServicesConfig) -> None:
    """Create the process work pool unless it exists (the Prefect CLI fills in the process job template)."""
    if httpx.get(f"{prefect_api(config)}/work_pools/{config.pool}", timeout=10).status_code == 200:
        return
    env = prefect_env(layout, config, {"PREFECT_API_URL": prefect_api(config)})
    created = subprocess.run(
        [script("prefect"), "work-pool", "create", config.pool, "--type", "process"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if created.returncode != 0:
        raise TransientError(f"creating the work pool {config.pool} failed: {created.stderr.strip()[-1000:]}")


def ensure_bucket(config: ServicesConfig) -> None:
    """The DVC remote's bucket on the S3 endpoint (created once)."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint(config), **_boto_credentials())
    if BUCKET not in {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=BUCKET)


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_CREDENTIALS["AWS_DEFAULT_REGION"],
    }


def answers(url: str) -> bool:
    return httpx.get(url, timeout=5).status_code == 200
