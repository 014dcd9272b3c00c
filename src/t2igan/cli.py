"""The `t2igan` command line: every pipeline stage, plus generate, promote, rollback and doctor.

Each `dvc.yaml` stage command is one of these; the stage logic itself lives in `t2igan.stages`. Errors a user
can act on are printed as one line (no traceback) with an exit code that tells bad input (2) from transient
trouble (75), which the Prefect flow uses to decide whether a retry can help.
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from t2igan.env import apply_offline_defaults
from t2igan.errors import T2iganError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
log = logging.getLogger("t2igan")

ParamsOption = Annotated[Path, typer.Option("--params", "-p", help="params file (DVC params)")]
ProjectOption = Annotated[Path, typer.Option("--project", help="project root (default: current directory)")]

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(command: F) -> F:
    """Turn `T2iganError` into one line on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except T2iganError as exc:
            typer.echo(f"t2igan {command.__name__.rstrip('_')}: error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def _setup(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    apply_offline_defaults()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("alembic", "httpx", "urllib3", "great_expectations", "mlflow.store.db.utils"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _run_stage(stage: str, params_file: Path, project: Path | None) -> Any:
    from t2igan.config import load_params
    from t2igan.paths import ProjectPaths

    started = time.perf_counter()
    params = load_params(params_file)
    module = importlib.import_module(f"t2igan.stages.{stage}")
    result = module.run(params, ProjectPaths.at(project))
    # The stage's own time, without interpreter start-up or DVC: the flow reports it beside its task's time.
    typer.echo(f"t2igan {stage}: done in {time.perf_counter() - started:.3f}s", err=True)
    return result


@app.command()
@_friendly
def scan(params: ParamsOption = Path("params.yaml"), project: ProjectOption = None) -> None:
    """Fingerprint the dataset's files into data/source.json (ingest reruns when it changes)."""
    result = _run_stage("scan", params, project)
    typer.echo(f"{result.source} source: {result.files} files, {result.bytes} bytes ({result.digest[:12]})")


@app.command()
@_friendly
def ingest(params: ParamsOption = Path("params.yaml"), project: ProjectOption = None) -> None:
    """Read the configured dataset into data/ingest/manifest.parquet."""
    result = _run_stage("ingest", params, project)
    typer.echo(f"ingested {result.rows} captions of {result.images} images: {result.splits}")


@app.command()
@_friendly
def validate(params: ParamsOption = Path("params.yaml"), project: ProjectOption = None) -> None:
    """Run the great-expectations suite; quarantine bad rows; build the image store."""
    result = _run_stage("validate", params, project)
    typer.echo(f"validated {result.rows} rows: {result.clean_rows} clean, {result.rejected_rows} rejected")


@app.command()
@_friendly
def embed(params: ParamsOption = Path("params.yaml"), project: ProjectOption = None) -> None:
    """Embed every clean caption with the text encoder (cached per caption)."""
    result = _run_stage("embed", params, project)
    typer.echo(f"embedded {result.captions} captions: {result.encoded} encoded, {result.from_cache} from cache")


@app.command()
@_friendly
def train(params: ParamsOption = Path("params.yaml"), project: ProjectOption = None) -> None:
    """Train the GAN (resumes from the newest matching checkpoint)."""
    result = _run_stage("train", params, project)
    typer.echo(f"trained {result.steps} steps (resumed from {result.resumed_from}); MLflow run {result.run_id}")


@app.command()
@_friendly
def evaluate(params: ParamsOption = Path("params.yaml"), project: ProjectOption = None) -> None:
    """FID and text alignment of the trained generator."""
    metrics = _run_stage("evaluate", params, project).metrics
    name = metrics["fid_name"]
    extra = f", alignment {metrics['alignment']:.3f}" if "alignment" in metrics else ""
    typer.echo(f"{name} {metrics[name]:.3f}{extra}")


@app.command()
@_friendly
def register(params: ParamsOption = Path("params.yaml"), project: ProjectOption = None) -> None:
    """Register the model in MLflow (@challenger) and promote it to @champion if it is better."""
    result = _run_stage("register", params, project)
    state = "promoted to @champion" if result.promoted else "kept as @challenger"
    typer.echo(f"{result.model_name} version {result.version} {state}: {result.reason}")


@app.command()
@_friendly
def generate(
    caption: Annotated[str, typer.Argument(help="what to draw")],
    model: Annotated[str, typer.Option("--model", "-m")] = "models:/t2igan@champion",
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("out.png"),
    num_images: Annotated[int, typer.Option("--num-images", "-n", min=1)] = 1,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
    truncation: Annotated[
        float | None,
        typer.Option("--truncation", min=0.0, help="redraw noise beyond +-t: fidelity over variety"),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Generate PNGs for a caption with a registered model (output.png, or output-<k>.png for several)."""
    from t2igan.serving import generate_files

    for path in generate_files(caption, model, output, num_images, seed, project, truncation):
        typer.echo(str(path))


@app.command()
@_friendly
def promote(
    version: Annotated[str, typer.Option("--version", help="model version to make @champion")],
    reason: Annotated[str, typer.Option("--reason", help="why (recorded on the version)")],
    params: ParamsOption = Path("params.yaml"),
    project: ProjectOption = None,
) -> None:
    """Make a version @champion by hand, recording the reason and the version it replaces."""
    from t2igan.serving import manual_promote

    name = manual_promote(version, reason, params, project)
    typer.echo(f"{name} version {version} is @champion")


@app.command()
@_friendly
def rollback(params: ParamsOption = Path("params.yaml"), project: ProjectOption = None) -> None:
    """Give @champion back to the version it replaced."""
    from t2igan.serving import rollback_champion

    name, version = rollback_champion(params, project)
    typer.echo(f"{name} @champion is version {version} again")


@app.command()
@_friendly
def doctor(project: ProjectOption = None) -> None:
    """Check that everything the pipeline needs offline is in place."""
    from t2igan.doctor import checks

    failed = False
    for name, ok, detail in checks(project):
        failed |= not ok
        typer.echo(f"[{'ok' if ok else 'FAIL'}] {name}: {detail}")
    if failed:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
