"""Start, stop and report team mode's services, and write the environment that points a project at them.

Order matters: PostgreSQL first (the MLflow and Prefect servers keep their state in it), then the S3
endpoint and the MLflow and Prefect servers together, then the work pool, and last the worker, which must know
every other address to hand them to its flow runs. Every start is idempotent: what already runs and answers
its health check is left alone, so `make services` twice is harmless. Stopping takes the worker first (no new
flow runs) and PostgreSQL last, and keeps the data.
"""

from __future__ import annotations

import logging
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from t2igan.env import FEEDBACK_URL_ENV, LOCK_URL_ENV, S3_ENDPOINT_ENV, script, subprocess_env
from t2igan.errors import ConfigError, TransientError
from t2igan.io import write_text
from t2igan.services import postgres, processes, servers
from t2igan.services.layout import BUCKET, Ports, ServicesConfig, ServicesLayout

log = logging.getLogger(__name__)

SERVICES = ("postgres", "s3", "mlflow", "prefect", "worker")
NEEDS = {"mlflow": {"postgres"}, "prefect": {"postgres"}, "worker": {"prefect", "postgres"}}
DATABASES = ("mlflow", "prefect", "feedback")  # feedback: the studio's votes (t2igan.feedback)
DVC_REMOTE = "team"


def chosen(only: tuple[str, ...] | None) -> tuple[str, ...]:
    """The services to start, with what they need, in start order."""
    if not only:
        return SERVICES
    unknown = set(only) - set(SERVICES)
    if unknown:
        raise ConfigError(f"unknown service(s) {sorted(unknown)}; the services are {', '.join(SERVICES)}")
    wanted = set(only).union(*(NEEDS.get(name, set()) for name in only))
    return tuple(name for name in SERVICES if name in wanted)


def team_env(config: ServicesConfig, names: tuple[str, ...]) -> dict[str, str]:
    """What a project (and the worker's flow runs) need to use the running services."""
    env: dict[str, str] = {}
    if "postgres" in names:
        env[FEEDBACK_URL_ENV] = postgres.url(config.ports.postgres, "feedback")
    if "mlflow" in names:
        env["MLFLOW_TRACKING_URI"] = servers.mlflow_url(config)
        env[LOCK_URL_ENV] = postgres.url(config.ports.postgres, "mlflow")
    if "prefect" in names:
        env["PREFECT_API_URL"] = servers.prefect_api(config)
    if "s3" in names:
        env.update(servers.S3_CREDENTIALS)
        env[S3_ENDPOINT_ENV] = env["MLFLOW_S3_ENDPOINT_URL"] = servers.s3_endpoint(config)
    return env


def _server(name: str, layout: ServicesLayout, config: ServicesConfig, env: dict[str, str]) -> servers.Server:
    if name == "s3":
        return servers.s3(config)
    if name == "mlflow":
        return servers.mlflow(layout, config)
    if name == "prefect":
        return servers.prefect_server(layout, config)
    return servers.worker(layout, config, env)


def _start_server(name: str, layout: ServicesLayout, config: ServicesConfig, env: dict[str, str]) -> bool:
    server = _server(name, layout, config, env)
    started = processes.start(
        name, server.command, server.env, layout.pid_file(name), layout.log_file(name), server.health, 180
    )
    if name == "s3":
        servers.ensure_bucket(config)
    return started


def start(
    layout: ServicesLayout, wanted: ServicesConfig | None = None, only: tuple[str, ...] | None = None
) -> dict[str, bool]:
    """Start what is not running; {service: True if started now, False if it already ran}.

    The S3, MLflow and Prefect servers need only PostgreSQL, so they start together (each spends most of
    its start-up importing and migrating); the worker needs them all and starts last.
    """
    config = layout.config(wanted)
    names = chosen(only)
    env = team_env(config, names)
    started: dict[str, bool] = {}
    if "postgres" in names:
        started["postgres"] = postgres.start(layout, config.ports.postgres)
        postgres.ensure_databases(config.ports.postgres, DATABASES)
    middle = [name for name in names if name in ("s3", "mlflow", "prefect")]
    with ThreadPoolExecutor(max_workers=len(middle) or 1) as pool:
        futures = {name: pool.submit(_start_server, name, layout, config, env) for name in middle}
        started.update({name: future.result() for name, future in futures.items()})
    if "worker" in names:
        servers.ensure_pool(layout, config)
        started["worker"] = _start_server("worker", layout, config, env)
    write_env_file(layout, env)
    return started


def write_env_file(layout: ServicesLayout, env: dict[str, str]) -> None:
    """`KEY=value` lines: `include`d by the Makefile, or `set -a; . team.env; set +a` in a shell."""
    lines = ["# t2igan team mode: written by `t2igan services start`, removed by `stop`"]
    lines += [f"{key}={value}" for key, value in sorted(env.items())]
    write_text(layout.env_file, "\n".join(lines) + "\n")


def stop(layout: ServicesLayout) -> dict[str, bool]:
    """Stop everything, last started first; {service: True if it was running}. The data stays."""
    layout.env_file.unlink(missing_ok=True)  # first: nothing should pick up addresses that are going away
    stopped = {"worker": processes.stop("worker", layout.pid_file("worker"))}  # no new flow runs
    servers_left = ("prefect", "mlflow", "s3")
    with ThreadPoolExecutor(max_workers=len(servers_left)) as pool:
        futures = {name: pool.submit(processes.stop, name, layout.pid_file(name)) for name in servers_left}
        stopped.update({name: future.result() for name, future in futures.items()})
    stopped["postgres"] = postgres.stop(layout)  # last: the servers above keep their state in it
    return stopped


def status(layout: ServicesLayout) -> dict[str, str]:
    """One line per service: its pid, or `stopped`."""
    found: dict[str, str] = {"postgres": "running" if postgres.is_running(layout) else "stopped"}
    for name in SERVICES[1:]:
        running = processes.running(layout.pid_file(name))
        found[name] = f"running (pid {running.pid})" if running else "stopped"
    return found


def configure_dvc_remote(project: Path, config: ServicesConfig) -> str | None:
    """Make the S3 bucket the project's default DVC remote on this machine (.dvc/config.local)."""
    if not (project / ".dvc").is_dir():
        return None
    url = f"s3://{BUCKET}/{project.resolve().name}"
    endpoint = servers.s3_endpoint(config)
    keys = servers.S3_CREDENTIALS
    for args in (
        ["remote", "add", "--local", "--force", "--default", DVC_REMOTE, url],
        ["remote", "modify", "--local", DVC_REMOTE, "endpointurl", endpoint],
        ["remote", "modify", "--local", DVC_REMOTE, "access_key_id", keys["AWS_ACCESS_KEY_ID"]],
        ["remote", "modify", "--local", DVC_REMOTE, "secret_access_key", keys["AWS_SECRET_ACCESS_KEY"]],
    ):
        _dvc(project, args)
    return url


def forget_dvc_remote(project: Path) -> None:
    """Back to the project's own default remote: the team one lives only in .dvc/config.local."""
    if (project / ".dvc" / "config.local").is_file():
        _dvc(project, ["remote", "remove", "--local", DVC_REMOTE], missing_ok=True)


def _dvc(project: Path, args: list[str], missing_ok: bool = False) -> None:
    done = subprocess.run(
        [script("dvc"), *args], cwd=project, env=subprocess_env(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0 and not (missing_ok and "does not exist" in done.stderr):
        raise TransientError(f"dvc {' '.join(args[:3])} failed: {done.stderr.strip()[-500:]}")


def wanted_config(artifacts: str | None, port_items: list[str] | None) -> ServicesConfig:
    """The config a first start records, from `--artifacts-destination` and `--port service=port`."""
    ports = asdict(Ports())
    for item in port_items or []:
        name, _, value = item.partition("=")
        if name not in ports or not value.isdigit() or not 0 < int(value) < 65536:
            raise ConfigError(f"--port {item!r}: expected one of {', '.join(ports)} = a port number")
        ports[name] = int(value)
    if artifacts and "://" not in artifacts:
        artifacts = Path(artifacts).expanduser().resolve().as_uri()
    return ServicesConfig(Ports(**ports), artifacts_destination=artifacts)
