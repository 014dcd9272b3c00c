"""`t2igan services`: team mode's servers (PostgreSQL, MLflow, Prefect and its worker, S3), on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from t2igan.cli.project import ProjectOption, friendly, project

app = typer.Typer(
    no_args_is_help=True,
    help="Team mode: PostgreSQL, MLflow and Prefect servers, a worker, S3; authenticated, on one address.",
)
users = typer.Typer(no_args_is_help=True, help="The team's MLflow users and what each may do.")
app.add_typer(users, name="user")

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
    host: Annotated[
        str | None,
        typer.Option(
            "--host", help="the address every server binds, one of this host's (first start; 127.0.0.1)"
        ),
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option("--allow", metavar="CIDR", help="who may reach PostgreSQL (default: --host's network)"),
    ] = None,
    _project: ProjectOption = None,
) -> None:
    """Start the team services that are not running, write team.env (0600), point the project's DVC at S3."""
    from t2igan.services import team
    from t2igan.services.credentials import read_env_file
    from t2igan.services.layout import ServicesLayout

    chosen = project(ctx)
    layout = ServicesLayout.at(directory, chosen.root)
    wanted = team.wanted_config(artifacts, port, host, allow)
    started = team.start(layout, wanted, tuple(only or ()) or None)
    for name, now in started.items():
        typer.echo(f"{name}: {'started' if now else 'already running'}")
    if "s3" in started and (
        remote := team.configure_dvc_remote(chosen.directory, read_env_file(layout.env_file))
    ):
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


@app.command("join")
@friendly
def join(
    ctx: typer.Context,
    env_file: Annotated[Path, typer.Option("--env", help="the team's team.env, copied from the server host")],
    name: Annotated[
        str | None, typer.Option("--name", help="this worker's name (default: pool-hostname)")
    ] = None,
    directory: ServicesDirOption = None,
    _project: ProjectOption = None,
) -> None:
    """Join the team from this machine: check team.env against every server, start a worker of its pool here."""
    from t2igan.services import join as joining
    from t2igan.services.layout import ServicesLayout

    chosen = project(ctx)
    done = joining.join(ServicesLayout.at(directory, chosen.root), env_file, name, chosen.directory)
    for what, said in done.items():
        typer.echo(f"{what}: {said}")


@app.command("rotate")
@friendly
def rotate(ctx: typer.Context, directory: ServicesDirOption = None, _project: ProjectOption = None) -> None:
    """Change every password and key, rewrite team.env; hosts with the old file are refused until re-joined."""
    from t2igan.services import rotation, team
    from t2igan.services.credentials import read_env_file
    from t2igan.services.layout import ServicesLayout

    chosen = project(ctx)
    layout = ServicesLayout.at(directory, chosen.root)
    for step in rotation.rotate(layout):
        typer.echo(step)
    if remote := team.configure_dvc_remote(chosen.directory, read_env_file(layout.env_file)):
        typer.echo(f"dvc remote: {remote} (.dvc/config.local, new key)")
    typer.echo(f"environment: {layout.env_file} (rewritten: hand it to the team again)")


@users.command("add")
@friendly
def user_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="the user's name")],
    directory: ServicesDirOption = None,
    _project: ProjectOption = None,
) -> None:
    """Make an MLflow user with a new password, in their own env file (0600); the password is never printed."""
    from t2igan.services import users as team_users
    from t2igan.services.layout import ServicesLayout

    written = team_users.add(ServicesLayout.at(directory, project(ctx).root), name)
    typer.echo(f"user {name}: created; their environment: {written} (give it to them only)")


@users.command("grant")
@friendly
def user_grant(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="the user's name")],
    model: Annotated[str, typer.Argument(help="a registered model")],
    permission: Annotated[str, typer.Argument(help="READ, EDIT (move aliases), MANAGE or NO_PERMISSIONS")],
    directory: ServicesDirOption = None,
    _project: ProjectOption = None,
) -> None:
    """Give a user a permission on one registered model (EDIT lets them move its aliases)."""
    from t2igan.services import users as team_users
    from t2igan.services.layout import ServicesLayout

    team_users.grant(ServicesLayout.at(directory, project(ctx).root), name, model, permission)
    typer.echo(f"user {name}: {permission.upper()} on {model}")
