"""The t2igan training flow: dvc pull → one Prefect task per DVC stage → feedback → dvc push → artifacts.

Each stage task runs `dvc repro --single-item <stage>`, so dvc.lock and the DVC cache stay the one record of
what was built from what, whichever entry point ran it, and an unchanged stage is skipped. Transient
failures are retried with backoff, bad data and bad params fail at once (flows/dvc_tasks.py). Pull and push
happen when the project has a default DVC remote. `overrides` change params.yaml values for this run only:
they go to params.override.yaml, which DVC tracks beside params.yaml, and that file is emptied again
afterwards (t2igan.config.overrides). The feedback task applies the human gate when it is on and summarises the
studio's votes since the last run (flows/human_feedback.py). A run holds the project's lock from before it
writes its overrides until it has read its results (t2igan.locks): two runs of one project, say an ad-hoc
`t2igan flow run -S ...` and a scheduled one, follow each other, each with its own overrides. A failed run
names the stage and its reason in its state message and the failure hook's log line (flows/notify.py); a
deployment's Automation sends it to a webhook (flows/alerts.py). Every task and the flow have time limits
(flows/timeouts.py).

Run it once: `make run` (`t2igan flow run`); on a schedule: `t2igan flow serve` (flows/deployment.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

import t2igan.config.overrides as run_overrides
from flows.dvc_tasks import StageFailed, default_remote, dvc_pull, dvc_push, run_stage
from flows.human_feedback import human_feedback
from flows.notify import notify_failure
from flows.run_report import publish, summarize
from flows.timeouts import TRANSFERS, flow_timeout_seconds, task_timeouts
from t2igan.env import apply_offline_defaults
from t2igan.errors import T2iganError
from t2igan.locks import project_lock
from t2igan.paths import ProjectPaths
from t2igan.stages import STAGES

__all__ = ["FlowFailed", "StageFailed", "run_once", "training_flow"]


class FlowFailed(T2iganError):
    """A run of the flow failed in a stage (the message names it and its reason)."""


@flow(
    name="t2igan-training",
    on_failure=[notify_failure],
    on_crashed=[notify_failure],
    timeout_seconds=flow_timeout_seconds(),
)
def training_flow(
    project_dir: str = ".",
    overrides: dict[str, Any] | None = None,
    pull: bool = True,
    push: bool = True,
    mlflow_ui_url: str | None = None,
    timeouts: dict[str, float] | None = None,
    dask_scheduler: str | None = None,
    until: str | None = None,
) -> dict[str, Any]:
    """Pull, run every DVC stage in order (skipping unchanged ones), push, then report.

    Args:
        project_dir: the t2igan project (a DVC repository).
        overrides: params for this run only, as dotted keys (`{"train.lr_g": 0.0002}`) or sections.
        pull: `dvc pull` first when a default remote is configured.
        push: `dvc push` the outputs afterwards when a default remote is configured.
        mlflow_ui_url: where the report's MLflow links point (default: the tracking server, or `mlflow ui`).
        timeouts: seconds a task may run, by stage name, `pull` or `push` (flows/timeouts.py).
        dask_scheduler: a Dask scheduler's address (`tcp://host:8786`): the data stages run their tasks (one
            per shard or chunk of rows) on that cluster; default: local processes.
        until: the last stage to run (`validate`: the data stages alone); default: all of them.
    """
    apply_offline_defaults()
    project = Path(project_dir).resolve()
    limits = task_timeouts(timeouts)
    logger = get_run_logger()
    with project_lock(ProjectPaths.at(project), "flow run", wait=True, on_wait=logger.info):
        run_overrides.ensure_file(project)
        remote = default_remote(str(project)) if pull or push else None
        transfers: list[dict[str, Any]] = []
        with run_overrides.applied(project, overrides):
            stages = stages_until(until)
            targets = stages if until is not None else ()  # a partial run moves its own stages' outputs
            if remote and pull:
                transfers.append(_bounded("pull", dvc_pull, limits)(str(project), remote, targets))
            results = [
                _bounded(stage, run_stage, limits)(
                    stage, str(project), lock_held=True, dask_scheduler=dask_scheduler
                )
                for stage in stages
            ]
            feedback = human_feedback(str(project)) if until is None else None
            if remote and push:
                transfers.append(_bounded("push", dvc_push, limits)(str(project), remote, targets))
        summary = summarize(project, results, overrides, transfers, mlflow_ui_url, feedback)
    publish(summary)
    return summary


def stages_until(until: str | None) -> tuple[str, ...]:
    """The stages in order, up to and including `until`; refused in one line when it is not one."""
    if until is None:
        return STAGES
    if until not in STAGES:
        raise StageFailed("flow", 2, f"until={until!r} is not a stage ({', '.join(STAGES)})", False)
    return STAGES[: STAGES.index(until) + 1]


def _bounded(name: str, task: Any, limits: dict[str, float]) -> Callable[..., Any]:
    """The task with its time limit, if it has one; past it, the run fails naming the task and the limit."""
    seconds = limits.get(name)
    bounded = task.with_options(timeout_seconds=seconds) if seconds else task

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return bounded(*args, **kwargs)
        except TimeoutError:
            label = f"dvc {name}" if name in TRANSFERS else name
            raise StageFailed(label, None, f"timed out after {seconds:g} s (its timeout)", False) from None

    return call


def run_once(
    project: Path,
    overrides: dict[str, Any],
    pull: bool,
    push: bool,
    timeouts: dict[str, float] | None = None,
    dask_scheduler: str | None = None,
    until: str | None = None,
) -> dict[str, Any]:
    """One run of the flow on an ephemeral Prefect API (`t2igan flow run`); returns its summary."""
    try:
        return training_flow(
            project_dir=str(project),
            overrides=overrides,
            pull=pull,
            push=push,
            timeouts=timeouts,
            dask_scheduler=dask_scheduler,
            until=until,
        )
    except StageFailed as exc:
        raise FlowFailed(str(exc)) from None
