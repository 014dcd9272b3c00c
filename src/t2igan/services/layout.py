"""Where team mode keeps everything, and the ports it chose: one directory, so one `rm -r` forgets it all.

<root>/services.json   ports, pool name and artifact destination chosen at the first start (kept, so a
                       restart finds the same data at the same addresses)
<root>/team.env        the environment that points a project at the servers (present while they run)
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

    @classmethod
    def from_json(cls, raw: dict) -> ServicesConfig:
        return cls(Ports(**raw["ports"]), raw["pool"], raw.get("artifacts_destination"))


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
    def prefect_home(self) -> Path:
        return self.root / "prefect"

    def pid_file(self, service: str) -> Path:
        return self.root / "pids" / f"{service}.json"

    def log_file(self, service: str) -> Path:
        return self.root / "logs" / f"{service}.log"

    def config(self, wanted: ServicesConfig | None = None) -> ServicesConfig:
        """The recorded config; at the first start, `wanted` (or the defaults) is recorded."""
        if self.config_file.is_file():
            return ServicesConfig.from_json(json.loads(self.config_file.read_text()))
        chosen = wanted or ServicesConfig()
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(self.config_file, asdict(chosen))
        return chosen
