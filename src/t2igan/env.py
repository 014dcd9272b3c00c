"""Offline-by-default process environment.

The pipeline must run with no network but the package registries: the text encoder and the FID network load
from installed wheels, and no tool may phone home. Entry points call `apply_offline_defaults()` first; values
the user set explicitly win.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

# t2igan's own variables, by what they hold (every T2IGAN_* name is here, once)
CACHE_DIR_ENV = "T2IGAN_CACHE_DIR"  # the content-addressed caches (default: <project>/.t2igan-cache)
FEEDBACK_URL_ENV = "T2IGAN_FEEDBACK_URL"  # the studio's votes: a SQLAlchemy URL (team mode: PostgreSQL)
LOCK_URL_ENV = "T2IGAN_PROMOTION_LOCK_URL"  # the PostgreSQL whose advisory lock serialises alias moves
S3_ENDPOINT_ENV = "T2IGAN_S3_ENDPOINT"  # team mode's S3 endpoint (the DVC remote, MLflow's artifacts)
SERVICES_DIR_ENV = "T2IGAN_SERVICES_DIR"  # where `t2igan services` keeps its servers' data and team.env
WORK_POOL_ENV = "T2IGAN_WORK_POOL"  # team mode's Prefect work pool (team.env names it for joining workers)
STUDIO_SECRET_ENV = "T2IGAN_STUDIO_SECRET"  # the key that signs the studio's comparisons
REQUEST_SECONDS_ENV = "T2IGAN_REQUEST_SECONDS"  # how long a served request may generate
PROGRESS_LINES_ENV = "T2IGAN_PROGRESS_LINES"  # seconds between a stage's progress lines (0: none)
NOTIFY_WEBHOOK_ENV = "T2IGAN_NOTIFY_WEBHOOK"  # where the flow posts a failed run
FLOW_TIMEOUT_ENV = "T2IGAN_FLOW_TIMEOUT_S"  # how long a run of the training flow may take in all
MLFLOW_UI_URL_ENV = "T2IGAN_MLFLOW_UI_URL"  # the MLflow UI the flow's summary links to
LOCKED_PROJECT_ENV = "T2IGAN_LOCKED_PROJECT"  # set by a launcher for its ranks: it holds this project's lock
DASK_SCHEDULER_ENV = "T2IGAN_DASK_SCHEDULER"  # a Dask scheduler address: data stages run their tasks there

OFFLINE_DEFAULTS: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "TOKENIZERS_PARALLELISM": "false",
    # quieter logs in stage output (not about the network)
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # `t2igan flow run` without a server starts Prefect's ephemeral API; its first start migrates a new
    # sqlite database, which on 2 busy cores takes longer than Prefect's 20 s default (and the run fails).
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def apply_offline_defaults() -> None:
    """Set the offline variables that the user has not set themselves."""
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)


def script(name: str) -> str:
    """A console script of this interpreter's environment (`dvc`, `mlflow`, `t2igan`), found without PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def subprocess_env(
    *, first_on_path: Sequence[str | os.PathLike[str]] = (), overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment for a tool this process starts: the offline defaults, this environment's scripts.

    Tools start other tools by name (`mlflow models serve` starts `uvicorn`, `dvc repro` runs `t2igan`), so
    this environment's scripts directory goes on PATH, unless PATH already names it: then its order is kept
    as given (a wrapper placed before it stays before it). `first_on_path` entries go in front of everything.
    """
    env = dict(os.environ)
    for key, value in OFFLINE_DEFAULTS.items():
        env.setdefault(key, value)
    entries = [entry for entry in env.get("PATH", "").split(os.pathsep) if entry]
    scripts = str(Path(sys.executable).parent)
    if scripts not in entries:
        entries.insert(0, scripts)
    front = [str(entry) for entry in first_on_path]
    env["PATH"] = os.pathsep.join([*front, *(entry for entry in entries if entry not in front)])
    env.update(overrides or {})
    return env
