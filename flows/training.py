"""The t2igan training flow: dvc pull → one Prefect task per DVC stage → feedback → dvc push → artifacts.

Each stage task runs `dvc repro --single-item <stage>`, so dvc.lock and the DVC cache stay the one record of
what was built from what, whichever entry point ran it, and an unchanged stage is skipped. Transient
failures are retried with backoff, bad data and bad params fail at once (flows/dvc_tasks.py). Pull and push
happen when the project has a default DVC remote. `overrides` change params.yaml values for this run only:
they go to params.override.yaml, which DVC tracks beside params.yaml, and that file is emptied again
afterwards (t2igan.config.overrides). The feedback task applies the human gate when it is on and summarises the
studio's votes since the last run (flows/human_feedback.py). A failed run names the stage and its reason in its
state message, and the on_failure hook logs it and posts it to a webhook (flows/notify.py).

Run it once: `make run` (`t2igan flow run`); on a schedule: `t2igan flow serve` (flows/deployment.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow

from flows.dvc_tasks import StageFailed, default_remote, dvc_pull, dvc_push, run_stage
from flows.human_feedback import human_feedback
from flows.notify import notify_failure
from flows.run_report import publish, summarize
from t2igan.config import overrides as run_overrides
from t2igan.env import apply_offline_defaults
from t2igan.errors import T2iganError
from t2igan.stages import STAGES

__all__ = ["FlowFailed", "StageFailed", "run_once", "training_flow"]


class FlowFailed(T2iganError):
    """A run of the flow failed in a stage (the message names it and its reason)."""


@flow(name="t2igan-training", on_failure=[notify_failure], on_crashed=[notify_failure])
def training_flow(
    project_dir: str = ".",
    overrides: dict[str, Any] | None = None,
    pull: bool = True,
    push: bool = True,
    notify_url: str | None = None,  # noqa: ARG001 - read by the failure hook from the run's parameters
    mlflow_ui_url: str | None = None,
) -> dict[str, Any]:
    """Pull, run every DVC stage in order (skipping unchanged ones), push, then report.

    Args:
        project_dir: the t2igan project (a DVC repository).
        overrides: params for this run only, as dotted keys (`{"train.lr_g": 0.0002}`) or sections.
        pull: `dvc pull` first when a default remote is configured.
        push: `dvc push` the outputs afterwards when a default remote is configured.
        notify_url: a webhook to POST to when the run fails (default: $T2IGAN_NOTIFY_WEBHOOK).
        mlflow_ui_url: where the report's MLflow links point (default: the tracking server, or `mlflow ui`).
    """
    apply_offline_defaults()
    project = Path(project_dir).resolve()
    run_overrides.ensure_file(project)
    remote = default_remote(str(project)) if pull or push else None
    transfers: list[dict[str, Any]] = []
    with run_overrides.applied(project, overrides):
        if remote and pull:
            transfers.append(dvc_pull(str(project), remote))
        results = [run_stage(stage, str(project)) for stage in STAGES]
        feedback = human_feedback(str(project))
        if remote and push:
            transfers.append(dvc_push(str(project), remote))
    summary = summarize(project, results, overrides, transfers, mlflow_ui_url, feedback)
    publish(summary)
    return summary


def run_once(project: Path, overrides: dict[str, Any], pull: bool, push: bool) -> dict[str, Any]:
    """One run of the flow on an ephemeral Prefect API (`t2igan flow run`); returns its summary."""
    try:
        return training_flow(project_dir=str(project), overrides=overrides, pull=pull, push=push)
    except StageFailed as exc:
        raise FlowFailed(str(exc)) from None
