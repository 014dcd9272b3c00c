"""`t2igan services`: team mode's servers (PostgreSQL, MLflow, Prefect and its worker, S3), on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from t2igan.cli.project import ProjectOption, friendly, project

app = typer.Typer(
    no_args_is_help=True, help="Team mode: PostgreSQL, MLflow and Prefect servers, a worker, S3 (127.0.0.1)."
)

ServicesDirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir", help="services directory (default: $T2IGAN_SERVICES_DIR or <project>/.t2igan-services)"
    ),
]


@app.command("start")
@friendly
def start(
    ctx: typer.Context,
    directory: ServicesDirOption = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="start only these (and what they need): postgres, s3, ..."),
    ] = None,
    artifacts: Annotated[
        str | None,
        typer.Option("--artifacts-destination", help="MLflow's artifact store: a directory or s3://"),
    ] = None,
    port: Annotated[
        list[str] | None, typer.Option("--port", metavar="SERVICE=PORT", help="at the first start")
    ] = None,
    _project: ProjectOption = None,
) -> None:
    """Start the team services that are not running, write team.env, and point the project's DVC at S3."""
    from t2igan.services import team
    from t2igan.services.layout import ServicesLayout

    chosen = project(ctx)
    layout = ServicesLayout.at(directory, chosen.root)
    started = team.start(layout, team.wanted_config(artifacts, port), tuple(only or ()) or None)
    for name, now in started.items():
        typer.echo(f"{name}: {'started' if now else 'already running'}")
    if "s3" in started and (remote := team.configure_dvc_remote(chosen.directory, layout.config())):
        typer.echo(f"dvc remote: {remote} (.dvc/config.local)")
    typer.echo(
        f"environment: {layout.env_file}  (make reads it; in a shell: set -a; . {layout.env_file}; set +a)"
    )


@app.command("stop")
@friendly
def stop(ctx: typer.Context, directory: ServicesDirOption = None, _project: ProjectOption = None) -> None:
    """Stop the team services (their data stays) and remove team.env: the project is back in laptop mode."""
    from t2igan.services import team
    from t2igan.services.layout import ServicesLayout

    chosen = project(ctx)
    for name, was_running in team.stop(ServicesLayout.at(directory, chosen.root)).items():
        typer.echo(f"{name}: {'stopped' if was_running else 'not running'}")
    team.forget_dvc_remote(chosen.directory)


@app.command("status")
@friendly
def status(ctx: typer.Context, directory: ServicesDirOption = None, _project: ProjectOption = None) -> None:
    """Each team service's state; exits 1 when one is stopped."""
    from t2igan.services import team
    from t2igan.services.layout import ServicesLayout

    found = team.status(ServicesLayout.at(directory, project(ctx).root))
    for name, state in found.items():
        typer.echo(f"{name}: {state}")
    if any(state == "stopped" for state in found.values()):
        raise typer.Exit(1)
