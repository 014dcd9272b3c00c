"""The registry's people-facing actions: draw with a registered model, move @champion by hand or back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from t2igan.cli.project import ParamsOption, ProjectOption, friendly, project
from t2igan.config import RegisterParams
from t2igan.errors import ConfigError

app = typer.Typer()


@app.command()
@friendly
def generate(
    ctx: typer.Context,
    caption: Annotated[str, typer.Argument(help="what to draw")],
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="a model URI (default: models:/<register.model_name>@champion)"),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("out.png"),
    num_images: Annotated[int, typer.Option("--num-images", "-n", min=1)] = 1,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
    truncation: Annotated[
        float | None,
        typer.Option("--truncation", min=0.0, help="redraw noise beyond +-t: fidelity over variety"),
    ] = None,
    _params: ParamsOption = None,
    _project: ProjectOption = None,
) -> None:
    """Generate PNGs for a caption with a registered model (output.png, or output-<k>.png for several)."""
    from t2igan.registry.generate import generate_files

    chosen = project(ctx)
    if model is None:
        # the project's model name; outside a project (a tracking server in the environment), the default one
        named = chosen.params.register_ if chosen.params_path.is_file() else RegisterParams()
        model = f"models:/{named.model_name}@champion"
    for path in generate_files(chosen.paths, caption, model, output, num_images, seed, truncation):
        typer.echo(str(path))


@app.command()
@friendly
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 5001,
    check_seconds: Annotated[
        float, typer.Option("--check-seconds", min=0.1, help="how often to look where @champion points")
    ] = 30.0,
    _params: ParamsOption = None,
    _project: ProjectOption = None,
) -> None:
    """Serve <register.model_name>@champion over HTTP (POST /invocations), and the new one when it moves."""
    from t2igan.registry.champion_server import follow_champion
    from t2igan.tracking import configure

    chosen = project(ctx)
    configure(chosen.paths)
    raise typer.Exit(follow_champion(chosen.params.register_.model_name, host, port, check_seconds))


@app.command()
@friendly
def promote(
    ctx: typer.Context,
    version: Annotated[str | None, typer.Option("--version", help="model version to make @champion")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="why (recorded on the version)")] = None,
    from_feedback: Annotated[
        bool, typer.Option("--from-feedback", help="apply register.human_gate to the waiting @challenger")
    ] = False,
    _params: ParamsOption = None,
    _project: ProjectOption = None,
) -> None:
    """Make a version @champion by hand (the reason and the version it replaces are recorded), or let people's
    votes decide on the waiting @challenger (--from-feedback)."""
    chosen = project(ctx)
    if from_feedback:
        if version is not None or reason is not None:
            raise ConfigError("--from-feedback decides by the votes: give no --version or --reason")
        _promote_from_feedback(ctx)
        return
    if version is None or reason is None:
        raise ConfigError("give --version and --reason (or --from-feedback)")
    from t2igan.registry.aliases import manual_promote

    name, moved = manual_promote(version, reason, chosen.params, chosen.paths)
    typer.echo(
        f"{name} version {version} is @champion"
        if moved
        else f"{name} version {version} is already @champion; nothing changed"
    )


def _promote_from_feedback(ctx: typer.Context) -> None:
    from t2igan.feedback.database import feedback_url, open_database
    from t2igan.registry.human_gate import promote_from_feedback

    chosen = project(ctx)
    outcome = promote_from_feedback(chosen.params, chosen.paths, open_database(feedback_url(chosen.paths)))
    state = "promoted to @champion" if outcome.promoted else "not promoted"
    subject = f"{outcome.model_name} version {outcome.challenger}" if outcome.challenger else outcome.model_name
    typer.echo(f"{subject} {state}: {outcome.reason}")


@app.command()
@friendly
def rollback(ctx: typer.Context, _params: ParamsOption = None, _project: ProjectOption = None) -> None:
    """Give @champion back to the version it replaced."""
    from t2igan.registry.aliases import rollback_champion

    chosen = project(ctx)
    name, version = rollback_champion(chosen.params, chosen.paths)
    typer.echo(f"{name} @champion is version {version} again")
