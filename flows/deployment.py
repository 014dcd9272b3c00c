"""Deployments of the training flow: scheduled retraining, served here or sent to a work pool.

    python -m flows.deployment serve                         # this machine, every night at 03:00
    python -m flows.deployment serve --cron "0 */6 * * *" -S train.steps=4000
    python -m flows.deployment deploy --pool gpu-procs       # a process work pool on a GPU machine
    python -m flows.deployment deploy --pool gpu-docker --image registry.example.com/t2igan:cuda --gpus 1

`serve` registers the deployment with the Prefect API (PREFECT_API_URL) and runs its flow runs in
subprocesses here until stopped. `deploy` only registers it: a worker of the pool runs the runs. Without
`--image` the deployment points at this project directory (a process pool on a machine that sees it); with
`--image` the image must hold the project as its working directory, and data and models travel through the
DVC remote (the flow pulls first and pushes last) and the MLflow tracking server (MLFLOW_TRACKING_URI).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from flows.training import parse_set, training_flow

DEFAULT_NAME = "t2igan-scheduled"
DEFAULT_CRON = "0 3 * * *"  # nightly at 03:00 (server time zone: UTC unless set)
ENTRYPOINT = "flows/training.py:training_flow"
TAGS = ["t2igan", "training"]


def parameters(project: str, overrides: dict[str, Any], notify_url: str | None) -> dict[str, Any]:
    """The deployment's default flow parameters (each run may override them)."""
    params: dict[str, Any] = {"project_dir": project, "overrides": overrides}
    if notify_url:
        params["notify_url"] = notify_url
    return params


def gpu_job_variables(gpus: int) -> dict[str, Any]:
    """Docker work pools: hand the container `gpus` NVIDIA GPUs (-1 = all), as `docker run --gpus` does."""
    return {
        "container_create_kwargs": {
            "device_requests": [{"driver": "nvidia", "count": gpus, "capabilities": [["gpu"]]}]
        }
    }


def serve(args: argparse.Namespace) -> None:
    training_flow.serve(
        name=args.name,
        cron=None if args.no_schedule else args.cron,
        parameters=parameters(str(Path(args.project).resolve()), parse_set(args.set), args.notify_url),
        tags=TAGS,
        description="Scheduled retraining of t2igan over the DVC stages",
        limit=1,  # one training at a time: they share the workspace, and DVC's lock would refuse a second
    )


def deploy(args: argparse.Namespace) -> Any:
    job_variables = json.loads(args.job_variables) if args.job_variables else {}
    if args.gpus:
        job_variables = {**gpu_job_variables(args.gpus), **job_variables}
    project = "." if args.image else str(Path(args.project).resolve())
    flow = training_flow if args.image else training_flow.from_source(source=project, entrypoint=ENTRYPOINT)
    return flow.deploy(
        name=args.name,
        work_pool_name=args.pool,
        image=args.image,
        build=False,
        push=False,
        job_variables=job_variables,
        cron=None if args.no_schedule else args.cron,
        parameters=parameters(project, parse_set(args.set), args.notify_url),
        tags=TAGS,
        description="Scheduled retraining of t2igan over the DVC stages",
        concurrency_limit=1,
        print_next_steps=False,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("serve", "serve the deployment from this process"),
        ("deploy", "send it to a pool"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--name", default=DEFAULT_NAME, help="deployment name")
        sub.add_argument("--cron", default=DEFAULT_CRON, help="cron schedule (default: nightly at 03:00)")
        sub.add_argument("--no-schedule", action="store_true", help="no schedule: runs only when triggered")
        sub.add_argument("--project", default=".", help="project root (default: current directory)")
        sub.add_argument("--set", "-S", action="append", default=[], metavar="KEY=VALUE", help="param override")
        sub.add_argument("--notify-url", help="webhook to POST to when a run fails")
    deploy_parser = commands.choices["deploy"]
    deploy_parser.add_argument("--pool", required=True, help="work pool (process, docker, kubernetes, ...)")
    deploy_parser.add_argument("--image", help="container image holding the project (docker/kubernetes pools)")
    deploy_parser.add_argument("--gpus", type=int, default=0, help="GPUs per run on a docker pool (-1 = all)")
    deploy_parser.add_argument("--job-variables", help="JSON object of job variables for the pool")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args)
    else:
        print(f"deployment {deploy(args)} registered on pool {args.pool}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
