"""`t2igan flow`: the Prefect training flow over the DVC stages, once, served on a schedule, or deployed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from t2igan.cli.project import ProjectOption, friendly, project
from t2igan.env import DASK_SCHEDULER_ENV
from t2igan.errors import ConfigError

app = typer.Typer(no_args_is_help=True, help="The Prefect training flow over the DVC stages.")

SetOption = Annotated[
    list[str] | None, typer.Option("--set", "-S", metavar="KEY=VALUE", help="override a param for this run")
]
NotifyOption = Annotated[str | None, typer.Option("--notify-url", help="webhook to POST to when a run fails")]
TimeoutOption = Annotated[
    list[str] | None,
    typer.Option(
        "--timeout", metavar="TASK=SECONDS", help="a task's time limit (a stage, pull or push; pull/push: 3600)"
    ),
]
NameOption = Annotated[str, typer.Option("--name", help="deployment name")]
CronOption = Annotated[str, typer.Option("--cron", help="cron schedule")]
NoScheduleOption = Annotated[bool, typer.Option("--no-schedule", help="runs only when triggered")]


def _flows(root: Path) -> Path:
    """Make the project's `flows` package importable (and the project the working directory) for a flow."""
    root = root.resolve()
    if not (root / "flows" / "training.py").is_file():
        raise ConfigError(f"{root}: no flows/training.py here (--project names a t2igan project)")
    os.chdir(root)  # Prefect's runner starts flow runs from the working directory, by entrypoint
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    return root


def parse_set(items: list[str] | None, option: str = "--set") -> dict[str, Any]:
    """`key=value` pairs, values read as YAML (numbers, booleans, lists), as `dvc exp run -S` reads them."""
    import yaml

    parsed: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} {item!r}: expected key=value, such as train.lr_g=0.0002")
        parsed[key.strip()] = yaml.safe_load(value)
    return parsed


@app.command("run")
@friendly
def run(
    ctx: typer.Context,
    set_: SetOption = None,
    no_pull: Annotated[bool, typer.Option("--no-pull", help="skip dvc pull")] = False,
    no_push: Annotated[bool, typer.Option("--no-push", help="skip dvc push")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the run's summary as JSON instead of the report")
    ] = False,
    timeout: TimeoutOption = None,
    dask_scheduler: Annotated[
        str | None,
        typer.Option(
            "--dask-scheduler",
            envvar=DASK_SCHEDULER_ENV,
            help="a Dask scheduler address: the data stages run their tasks on that cluster",
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="the last stage to run (validate: the data stages only)")
    ] = None,
    _project: ProjectOption = None,
) -> None:
    """Run the training flow once: dvc pull, every DVC stage (unchanged ones skipped), dvc push, report."""
    overrides = parse_set(set_)
    root = _flows(project(ctx).directory)
    from flows.run_report import render_markdown
    from flows.timeouts import task_timeouts
    from flows.training import run_once

    timeouts = parse_set(timeout, "--timeout")
    task_timeouts(timeouts)  # refused here, before the flow starts
    from t2igan.stages import STAGES

    if until is not None and until not in STAGES:
        raise ConfigError(f"--until {until}: not a stage ({', '.join(STAGES)})")
    summary = run_once(
        root,
        overrides,
        pull=not no_pull,
        push=not no_push,
        timeouts=timeouts,
        dask_scheduler=dask_scheduler,
        until=until,
    )
    typer.echo(json.dumps(summary, indent=2, default=str) if as_json else "\n" + render_markdown(summary))


@app.command("serve")
@friendly
def serve(
    ctx: typer.Context,
    name: NameOption = "t2igan-scheduled",
    cron: CronOption = "0 3 * * *",
    no_schedule: NoScheduleOption = False,
    set_: SetOption = None,
    notify_url: NotifyOption = None,
    _project: ProjectOption = None,
) -> None:
    """Serve the training flow as a deployment on a cron schedule, running its runs here until stopped."""
    root = _flows(project(ctx).directory)
    from flows.deployment import serve as serve_deployment

    serve_deployment(root, name, None if no_schedule else cron, parse_set(set_), notify_url)


@app.command("deploy")
@friendly
def deploy(
    ctx: typer.Context,
    pool: Annotated[str, typer.Option("--pool", help="work pool (process, docker, kubernetes, ...)")],
    name: NameOption = "t2igan-scheduled",
    cron: CronOption = "0 3 * * *",
    no_schedule: NoScheduleOption = False,
    set_: SetOption = None,
    notify_url: NotifyOption = None,
    image: Annotated[str | None, typer.Option("--image", help="container image holding the project")] = None,
    gpus: Annotated[int, typer.Option("--gpus", help="GPUs per run on a docker pool (-1 = all)")] = 0,
    job_variables: Annotated[str | None, typer.Option("--job-variables", help="JSON job variables")] = None,
    _project: ProjectOption = None,
) -> None:
    """Register the training flow's deployment on a work pool; a worker of the pool runs it."""
    root = _flows(project(ctx).directory)
    from flows.deployment import DeployTarget
    from flows.deployment import deploy as deploy_flow

    target = DeployTarget(pool, image, gpus, job_variables)
    deployed = deploy_flow(root, name, None if no_schedule else cron, parse_set(set_), notify_url, target)
    typer.echo(f"deployment {deployed} registered on pool {pool}")
