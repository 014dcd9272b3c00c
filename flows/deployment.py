"""Deployments of the training flow: scheduled retraining, served here or sent to a work pool.

    t2igan flow serve                                   # this machine, every night at 03:00
    t2igan flow serve --cron "0 */6 * * *" -S train.steps=4000
    t2igan flow deploy --pool gpu-procs                 # a process work pool on a GPU machine
    t2igan flow deploy --pool gpu-docker --image registry.example.com/t2igan:cuda --gpus 1

`serve` registers the deployment with the Prefect API (PREFECT_API_URL) and runs its flow runs in
subprocesses here until stopped. `deploy` only registers it: a worker of the pool runs the runs. Without an
image the deployment points at this project directory (a process pool on a machine that sees it); with an
image, the image must hold the project as its working directory, and data and models travel through the
DVC remote (the flow pulls first and pushes last) and the MLflow tracking server (MLFLOW_TRACKING_URI).
`--notify-url` (or T2IGAN_NOTIFY_WEBHOOK) installs an Automation on the server that posts the deployment's
failed runs there (flows/alerts.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.alerts import install_failure_alert
from flows.training import training_flow
from t2igan.env import NOTIFY_WEBHOOK_ENV

ENTRYPOINT = "flows/training.py:training_flow"
TAGS = ["t2igan", "training"]
DESCRIPTION = "Scheduled retraining of t2igan over the DVC stages"


@dataclass(frozen=True)
class DeployTarget:
    pool: str  # the work pool (process, docker, kubernetes, ...)
    image: str | None = None  # a container image holding the project (docker, kubernetes pools)
    gpus: int = 0  # GPUs per run on a docker pool (-1 = all)
    job_variables: str | None = None  # JSON object of the pool's job variables


def parameters(project: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The deployment's default flow parameters (each run may override them); never the webhook, a secret
    kept in a block (flows/alerts.py)."""
    return {"project_dir": project, "overrides": overrides}


def webhook(notify_url: str | None) -> str | None:
    """The failure webhook: the option's, else $T2IGAN_NOTIFY_WEBHOOK."""
    return notify_url or os.environ.get(NOTIFY_WEBHOOK_ENV) or None


def gpu_job_variables(gpus: int) -> dict[str, Any]:
    """Docker work pools: hand the container `gpus` NVIDIA GPUs (-1 = all), as `docker run --gpus` does."""
    return {
        "container_create_kwargs": {
            "device_requests": [{"driver": "nvidia", "count": gpus, "capabilities": [["gpu"]]}]
        }
    }


def serve(
    project: Path, name: str, cron: str | None, overrides: dict[str, Any], notify_url: str | None
) -> None:
    from prefect import serve as serve_deployments

    deployment: Any = training_flow.to_deployment(
        name=name,
        cron=cron,
        parameters=parameters(str(project), overrides),
        tags=TAGS,
        description=DESCRIPTION,
    )
    url = webhook(notify_url)
    if url:  # the automation names the deployment by id: register it first (serving registers it again)
        install_failure_alert(deployment.apply(), name, url)
    # one training at a time: they share the workspace (the flow also waits for the project's lock)
    serve_deployments(deployment, limit=1)


def deploy(
    project: Path,
    name: str,
    cron: str | None,
    overrides: dict[str, Any],
    notify_url: str | None,
    target: DeployTarget,
) -> Any:
    job_variables = json.loads(target.job_variables) if target.job_variables else {}
    if target.gpus:
        job_variables = {**gpu_job_variables(target.gpus), **job_variables}
    where = "." if target.image else str(project)
    # from_source returns the flow (a coroutine only when called from async code)
    flow: Any = (
        training_flow if target.image else training_flow.from_source(source=where, entrypoint=ENTRYPOINT)
    )
    deployment_id = flow.deploy(
        name=name,
        work_pool_name=target.pool,
        image=target.image,
        build=False,
        push=False,
        job_variables=job_variables,
        cron=cron,
        parameters=parameters(where, overrides),
        tags=TAGS,
        description=DESCRIPTION,
        concurrency_limit=1,
        print_next_steps=False,
    )
    url = webhook(notify_url)
    if url:
        install_failure_alert(deployment_id, name, url)
    return deployment_id
