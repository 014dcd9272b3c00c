"""One command per DVC stage (`dvc.yaml` calls them): the stage's `run(params, paths)`, holding the project."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

import typer

from t2igan.cli.project import ParamsOption, ProjectOption, friendly, project
from t2igan.locks import project_lock

app = typer.Typer()


def run_stage(ctx: typer.Context, stage: str) -> Any:
    """The stage's result; it holds the project while it runs (a second writer is refused at once)."""
    started = time.perf_counter()
    chosen = project(ctx)
    params, paths = chosen.params, chosen.paths
    module = importlib.import_module(f"t2igan.stages.{stage}")
    with project_lock(paths, stage):
        result = module.run(params, paths)
    # The stage's own time, without interpreter start-up or DVC: the flow reports it beside its task's time.
    typer.echo(f"t2igan {stage}: done in {time.perf_counter() - started:.3f}s", err=True)
    return result


def _fid_line(result: Any) -> str:
    metrics = result.metrics
    extra = f", alignment {metrics['alignment']:.3f}" if "alignment" in metrics else ""
    return f"{metrics['fid_name']} {metrics[metrics['fid_name']]:.3f}{extra}"


def _decision_line(result: Any) -> str:
    state = "promoted to @champion" if result.promoted else "kept as @challenger"
    return f"{result.model_name} version {result.version} {state}: {result.reason}"


# Each DVC stage: its help line and the line it prints when done.
STAGE_COMMANDS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "scan": (
        "Fingerprint the dataset's files into data/source.json (ingest reruns when it changes).",
        lambda r: f"{r.source} source: {r.files} files, {r.bytes} bytes ({r.digest[:12]})",
    ),
    "ingest": (
        "Read the configured dataset into data/ingest/manifest.parquet.",
        lambda r: f"ingested {r.rows} captions of {r.images} images: {r.splits}",
    ),
    "validate": (
        "Run the great-expectations suite; quarantine bad rows; build the image store.",
        lambda r: f"validated {r.rows} rows: {r.clean_rows} clean, {r.rejected_rows} rejected",
    ),
    "embed": (
        "Embed every clean caption with the text encoder (cached per caption).",
        lambda r: f"embedded {r.captions} captions: {r.encoded} encoded, {r.from_cache} from cache",
    ),
    "train": (
        "Train the GAN (resumes from the newest matching checkpoint; train.nproc > 1 starts torchrun).",
        lambda r: f"trained {r.steps} steps (resumed from {r.resumed_from}); MLflow run {r.run_id}",
    ),
    "prompts": (
        'Export the captions people voted "both bad" or thumbed down to data/hard_prompts.csv.',
        lambda r: f"{r.prompts} hard prompts in {r.path}",
    ),
    "evaluate": ("FID and text alignment of the trained generator.", _fid_line),
    "register": (
        "Register the model in MLflow (@challenger) and promote it to @champion if it is better.",
        _decision_line,
    ),
}


def _stage_command(stage: str, done: Callable[[Any], str]) -> Callable[..., None]:
    def command(ctx: typer.Context, _params: ParamsOption = None, _project: ProjectOption = None) -> None:
        typer.echo(done(run_stage(ctx, stage)))

    command.__name__ = stage
    return friendly(command)


for _stage, (_help, _done) in STAGE_COMMANDS.items():
    app.command(name=_stage, help=_help)(_stage_command(_stage, _done))
