"""Where team mode keeps everything, and the ports it chose: one directory, so one `rm -r` forgets it all.

<root>/services.json   address, ports, pool name and artifact destination chosen at the first start (kept, so
                       a restart finds the same data at the same addresses)
<root>/team.env        the addresses and credentials that point a project at the servers (mode 0600; kept
                       across stops: the servers hold the other half of each credential)
<root>/users/NAME.env  the same for an MLflow user made by `t2igan services user add NAME`
<root>/mlflow/         the basic-auth app's configuration (no secret in it)
<root>/postgres/       the PostgreSQL cluster (databases `mlflow`, `prefect` and `feedback`)
<root>/artifacts/      MLflow's proxied artifact store, unless an s3:// destination was given
<root>/prefect/        the Prefect server's and the worker's home
<root>/pids/, logs/    one pid file and one log per process
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from t2igan.env import SERVICES_DIR_ENV
from t2igan.errors import ConfigError
from t2igan.io import write_json

HOST = "127.0.0.1"
DEFAULT_ROOT = ".t2igan-services"
POOL = "t2igan"
BUCKET = "t2igan-dvc"


@dataclass(frozen=True)
class Ports:
    postgres: int = 55432
    mlflow: int = 5000
    prefect: int = 4200
    s3: int = 5555


@dataclass(frozen=True)
class ServicesConfig:
    """What a start decides once and every later start reuses."""

    ports: Ports = field(default_factory=Ports)
    pool: str = POOL
    artifacts_destination: str | None = None  # None: <root>/artifacts; or an s3:// URL
    host: str = HOST  # the address every server binds, and the one team.env names
    allow: tuple[str, ...] = (f"{HOST}/32",)  # the address ranges PostgreSQL admits

    @classmethod
    def from_json(cls, raw: dict) -> ServicesConfig:
        host = raw.get("host", HOST)
        allow = tuple(raw.get("allow", (f"{host}/32",)))
        return cls(Ports(**raw["ports"]), raw["pool"], raw.get("artifacts_destination"), host, allow)


@dataclass(frozen=True)
class ServicesLayout:
    root: Path

    @classmethod
    def at(cls, root: Path | None, project: Path | None = None) -> ServicesLayout:
        """`root`, else $T2IGAN_SERVICES_DIR, else the project's (or this directory's) .t2igan-services."""
        env = os.environ.get(SERVICES_DIR_ENV)
        chosen = root or (Path(env) if env else (project or Path.cwd()) / DEFAULT_ROOT)
        return cls(chosen.expanduser().resolve())

    @property
    def config_file(self) -> Path:
        return self.root / "services.json"

    @property
    def env_file(self) -> Path:
        return self.root / "team.env"

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def sockets(self) -> Path:
        return self.root / "run"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def mlflow_auth_config(self) -> Path:
        return self.root / "mlflow" / "basic_auth.ini"

    def user_env_file(self, name: str) -> Path:
        return self.root / "users" / f"{name}.env"

    @property
    def prefect_home(self) -> Path:
        return self.root / "prefect"

    def pid_file(self, service: str) -> Path:
        return self.root / "pids" / f"{service}.json"

    def log_file(self, service: str) -> Path:
        return self.root / "logs" / f"{service}.log"

    def config(self, wanted: ServicesConfig | None = None) -> ServicesConfig:
        """The recorded config, else `wanted` (or the defaults), which `record` keeps once a start passed."""
        if self.config_file.is_file():
            recorded = ServicesConfig.from_json(json.loads(self.config_file.read_text()))
            if wanted is not None and wanted.host != HOST and wanted.host != recorded.host:
                raise ConfigError(
                    f"--host {wanted.host}: the services in {self.root} were first started on {recorded.host} "
                    f"(recorded in {self.config_file}); stop them and remove that file to choose again"
                )
            return recorded
        return wanted or ServicesConfig()

    def record(self, config: ServicesConfig) -> None:
        """Keep the first start's choices, once they passed its checks: a refused start records nothing."""
        if not self.config_file.is_file():
            self.root.mkdir(parents=True, exist_ok=True)
            write_json(self.config_file, asdict(config))
