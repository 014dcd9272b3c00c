"""Start, stop and report team mode's services, and write the environment that points a project at them.

Order matters: PostgreSQL first (the MLflow and Prefect servers keep their state in it, and it gets the team's
password before anything connects over TCP), then the S3 endpoint (its access key exists once it runs), then
the MLflow and Prefect servers together, then the work pool, and last the worker, which must know every other
address to hand them to its flow runs. Every start is idempotent: what already runs and answers its health
check is left alone, so `make services` twice is harmless. Bad input (an address not on this host, a port
another process holds) is refused before anything starts. Stopping takes the worker first (no new flow runs)
and PostgreSQL last, and keeps the data and team.env: the servers keep the other half of its credentials.
"""

from __future__ import annotations

import logging
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

from t2igan.env import FEEDBACK_URL_ENV, LOCK_URL_ENV, S3_ENDPOINT_ENV, WORK_POOL_ENV, script, subprocess_env
from t2igan.errors import ConfigError, TransientError
from t2igan.services import addresses, mlflow_auth, postgres, processes, servers, users
from t2igan.services import s3 as s3_store
from t2igan.services.credentials import S3_KEY_ID, S3_SECRET, Credentials, read_env_file, write_env_file
from t2igan.services.layout import BUCKET, Ports, ServicesConfig, ServicesLayout

log = logging.getLogger(__name__)

SERVICES = ("postgres", "s3", "mlflow", "prefect", "worker")
NEEDS = {"mlflow": {"postgres"}, "prefect": {"postgres"}, "worker": {"prefect", "postgres"}}
DATABASES = ("mlflow", "prefect", "feedback", mlflow_auth.DATABASE)  # feedback: the studio's votes
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


def team_env(config: ServicesConfig, credentials: Credentials) -> dict[str, str]:
    """What a project (and the worker's flow runs) need to use the services: every address, every credential.

    No URL carries a password: each client library reads its own from the variables beside it.
    """
    return {
        FEEDBACK_URL_ENV: postgres.url(config.host, config.ports.postgres, "feedback"),
        LOCK_URL_ENV: postgres.url(config.host, config.ports.postgres, "mlflow"),
        "MLFLOW_TRACKING_URI": servers.mlflow_url(config),
        "PREFECT_API_URL": servers.prefect_api(config),
        WORK_POOL_ENV: config.pool,
        S3_ENDPOINT_ENV: servers.s3_endpoint(config),
        "MLFLOW_S3_ENDPOINT_URL": servers.s3_endpoint(config),
        # boto3 and s3fs read it for S3 alone: s3:// data paths and store copies (train.stream.url) go there
        "AWS_ENDPOINT_URL_S3": servers.s3_endpoint(config),
        **credentials.postgres_env(),
        **credentials.mlflow_env(),
        **credentials.prefect_env(),
        **credentials.s3_env(),
    }


def _running(layout: ServicesLayout, name: str) -> bool:
    if name == "postgres":
        return postgres.is_running(layout)
    return processes.running(layout.pid_file(name)) is not None


def _start_process(layout: ServicesLayout, server: servers.Server) -> bool:
    return processes.start(
        server.name,
        server.command,
        server.env,
        layout.pid_file(server.name),
        layout.log_file(server.name),
        server.health,
        180,
    )


def start_worker(layout: ServicesLayout, env: dict[str, str], name: str) -> bool:
    """A worker of the team's pool on this host, its flow runs given `env` (a team.env)."""
    home = {"PREFECT_HOME": str(layout.prefect_home)}
    servers.ensure_pool(env["PREFECT_API_URL"], env["PREFECT_API_AUTH_STRING"], env[WORK_POOL_ENV], home)
    return _start_process(layout, servers.worker(home, name, env))


def start_s3(
    layout: ServicesLayout, config: ServicesConfig, credentials: Credentials
) -> tuple[bool, Credentials]:
    """The S3 endpoint; started now, it has a new IAM key (moto keeps it in memory), which is returned."""
    started = _start_process(layout, servers.s3(config))
    endpoint = servers.s3_endpoint(config)
    if started or not (credentials.s3_key_id and credentials.s3_secret):
        key_id, secret = s3_store.bootstrap_key(endpoint)
        credentials = replace(credentials, s3_key_id=key_id, s3_secret=secret)
        save(layout, config, credentials)
    s3_store.ensure_bucket(endpoint, credentials.s3_key_id or "", credentials.s3_secret or "")
    return started, credentials


def start_middle(
    layout: ServicesLayout, config: ServicesConfig, credentials: Credentials, names: tuple[str, ...]
) -> dict[str, bool]:
    """The MLflow and Prefect servers, together (each spends most of its start-up importing and migrating)."""
    middle = [
        servers.mlflow(layout, config, credentials)
        if name == "mlflow"
        else servers.prefect_server(layout, config, credentials)
        for name in names
        if name in ("mlflow", "prefect")
    ]
    with ThreadPoolExecutor(max_workers=len(middle) or 1) as pool:
        futures = {server.name: pool.submit(_start_process, layout, server) for server in middle}
        return {name: future.result() for name, future in futures.items()}


def start(
    layout: ServicesLayout, wanted: ServicesConfig | None = None, only: tuple[str, ...] | None = None
) -> dict[str, bool]:
    """Start what is not running; {service: True if started now, False if it already ran}."""
    config = layout.config(wanted)
    names = chosen(only)
    addresses.check_host(config.host)
    ports = asdict(config.ports)
    addresses.check_ports_free(
        config.host, {name: ports[name] for name in names if name in ports and not _running(layout, name)}
    )
    layout.record(config)
    credentials = Credentials.from_env(read_env_file(layout.env_file)) or Credentials.generate()
    save(layout, config, credentials)  # before any server learns a password from it
    started: dict[str, bool] = {}
    if "postgres" in names:
        started["postgres"] = postgres.start(layout, config.host, config.ports.postgres, config.allow)
        postgres.set_password(layout, config.ports.postgres, credentials.postgres)
        postgres.ensure_databases(layout, config.ports.postgres, DATABASES)
    if "s3" in names:
        started["s3"], credentials = start_s3(layout, config, credentials)
    started.update(start_middle(layout, config, credentials, names))
    if "worker" in names:
        started["worker"] = start_worker(layout, team_env(config, credentials), f"{config.pool}-worker")
    return started


def save(layout: ServicesLayout, config: ServicesConfig, credentials: Credentials) -> None:
    """team.env (0600), and each user's copy with the user's MLflow credentials in place of the admin's."""
    env = team_env(config, credentials)
    write_env_file(layout.env_file, env)
    users.refresh_files(layout, env)


def stop(layout: ServicesLayout) -> dict[str, bool]:
    """Stop everything, last started first; {service: True if it was running}. The data stays."""
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


def configure_dvc_remote(project: Path, env: dict[str, str]) -> str | None:
    """Make the team's S3 bucket the project's default DVC remote on this machine (.dvc/config.local).

    The keys go to config.local only, which git never sees: `.dvc/config` stays the project's.
    """
    if not (project / ".dvc").is_dir() or not env.get(S3_KEY_ID):
        return None
    url = f"s3://{BUCKET}/{project.resolve().name}"
    for args in (
        ["remote", "add", "--local", "--force", "--default", DVC_REMOTE, url],
        ["remote", "modify", "--local", DVC_REMOTE, "endpointurl", env[S3_ENDPOINT_ENV]],
        ["remote", "modify", "--local", DVC_REMOTE, "access_key_id", env[S3_KEY_ID]],
        ["remote", "modify", "--local", DVC_REMOTE, "secret_access_key", env[S3_SECRET]],
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
    gone = "does not exist" in done.stderr or "doesn't exist" in done.stderr  # the wording of DVC versions
    if done.returncode != 0 and not (missing_ok and gone):
        raise TransientError(f"dvc {' '.join(args[:3])} failed: {done.stderr.strip()[-500:]}")


def wanted_config(
    artifacts: str | None,
    port_items: list[str] | None,
    host: str | None = None,
    allow: list[str] | None = None,
) -> ServicesConfig:
    """The config a first start records, from `--artifacts-destination`, `--port service=port`, `--host` and
    `--allow` (default: the network `--host` is on)."""
    ports = asdict(Ports())
    for item in port_items or []:
        name, _, value = item.partition("=")
        if name not in ports or not value.isdigit() or not 0 < int(value) < 65536:
            raise ConfigError(f"--port {item!r}: expected one of {', '.join(ports)} = a port number")
        ports[name] = int(value)
    if artifacts and "://" not in artifacts:
        artifacts = Path(artifacts).expanduser().resolve().as_uri()
    chosen_host = host or addresses.LOOPBACK
    addresses.check_host(chosen_host)
    ranges = addresses.check_allow(tuple(allow)) if allow else addresses.default_allow(chosen_host)
    return ServicesConfig(Ports(**ports), artifacts_destination=artifacts, host=chosen_host, allow=ranges)
