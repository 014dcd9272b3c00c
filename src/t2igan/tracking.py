"""MLflow set-up and the hand-off of one run across stages.

The default store is a local sqlite database with artifacts under mlruns/artifacts (MLflow's file store is
deprecated); `MLFLOW_TRACKING_URI` points elsewhere, for example at a tracking server. The train stage opens
the run and writes its id next to the exported model (run.json); evaluate and register log to that same run,
so one run holds the whole story of one model.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from t2igan.errors import StageInputError, TransientError
from t2igan.io import read_json, write_json
from t2igan.paths import ProjectPaths

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
# What `dvc exp run` tells the stage commands it runs about the experiment (DVC sets these in their env).
DVC_EXPERIMENT_ENV = {"DVC_EXP_NAME": "dvc.exp_name", "DVC_EXP_BASELINE_REV": "dvc.exp_baseline_rev"}


def dvc_experiment_tags() -> dict[str, str]:
    """Tags naming the DVC experiment this process runs in: its MLflow run is then found by that name."""
    return {tag: os.environ[var] for var, tag in DVC_EXPERIMENT_ENV.items() if os.environ.get(var)}


def tracking_uri(paths: ProjectPaths) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{paths.mlruns / 'mlflow.db'}"


def local_store_dir(paths: ProjectPaths) -> Path | None:
    """The directory of a store on this machine (the sqlite file's), None for a tracking server.

    Writers of a local store can serialise with a file lock there; a server's clients cannot.
    """
    return paths.mlruns if tracking_uri(paths).startswith("sqlite:") else None


def configure(paths: ProjectPaths) -> str:
    """Point MLflow at the project's store (creating the local directory) and return the URI."""
    import mlflow

    uri = tracking_uri(paths)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def experiment_id(name: str, paths: ProjectPaths) -> str:
    """Get or create the experiment; local stores keep artifacts under mlruns/artifacts."""
    import mlflow

    client = mlflow.MlflowClient()
    try:
        existing = client.get_experiment_by_name(name)
        if existing is not None:
            return existing.experiment_id
        location = None
        if tracking_uri(paths).startswith("sqlite:"):
            location = (paths.mlruns / "artifacts").resolve().as_uri()
        return client.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException as exc:
        created = client.get_experiment_by_name(name) if "RESOURCE_ALREADY_EXISTS" in str(exc) else None
        if created is not None:  # another process created it first
            return str(created.experiment_id)
        if "connect" in str(exc).lower() or "timed out" in str(exc).lower():
            raise TransientError(
                f"MLflow tracking server unreachable at {tracking_uri(paths)}: {exc}"
            ) from None
        raise


@dataclass(frozen=True)
class RunRef:
    run_id: str
    experiment_id: str
    tracking_uri: str

    def write(self, directory: Path) -> None:
        write_json(directory / RUN_FILE, asdict(self))

    @classmethod
    def read(cls, directory: Path) -> RunRef:
        path = directory / RUN_FILE
        if not path.is_file():
            raise StageInputError(f"{path}: no MLflow run recorded (run `t2igan train` first)")
        return cls(**read_json(path))


@contextlib.contextmanager
def start_run(
    paths: ProjectPaths,
    experiment: str,
    run_id: str | None = None,
    run_name: str | None = None,
    system_metrics: bool = False,
) -> Iterator[RunRef]:
    """Start a new run, or continue `run_id`; the run ends (FINISHED or FAILED) when the block exits.

    `system_metrics`: MLflow samples CPU, memory, disk and network use (GPU with nvidia-ml-py) while it runs.
    """
    import mlflow

    configure(paths)
    exp_id = experiment_id(experiment, paths)
    if run_id is not None:
        try:
            mlflow.MlflowClient().get_run(run_id)
        except mlflow.exceptions.MlflowException:
            raise StageInputError(
                f"MLflow run {run_id} is not in {tracking_uri(paths)} (was mlruns/ deleted?); "
                "retrain with `dvc repro --force train`"
            ) from None
    with mlflow.start_run(
        run_id=run_id,
        experiment_id=None if run_id else exp_id,
        run_name=run_name,
        log_system_metrics=system_metrics,
    ) as run:
        experiment_tags = dvc_experiment_tags()
        if experiment_tags:
            mlflow.set_tags(experiment_tags)
        yield RunRef(run.info.run_id, run.info.experiment_id, tracking_uri(paths))


@contextlib.contextmanager
def continue_run(paths: ProjectPaths, experiment: str, stage: str) -> Iterator[RunRef]:
    """Log to the run that the train stage opened.

    The run's status is the training's: a later stage that fails (a transient register error the flow
    retries) leaves it FINISHED, with `t2igan.<stage>.error` saying what failed until the stage succeeds.
    """
    import mlflow

    ref = RunRef.read(paths.model_dir)
    error_tag = f"t2igan.{stage}.error"
    with start_run(paths, experiment, run_id=ref.run_id) as active:
        try:
            yield active
        except BaseException as exc:
            mlflow.set_tag(error_tag, f"{type(exc).__name__}: {exc}"[:5000])
            mlflow.end_run(status="FINISHED")
            raise
        if error_tag in mlflow.MlflowClient().get_run(active.run_id).data.tags:
            mlflow.MlflowClient().delete_tag(active.run_id, error_tag)
