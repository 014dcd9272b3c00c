"""The `t2igan` command line: every pipeline stage, the training flow, and generate, promote, rollback, doctor.

Each `dvc.yaml` stage command is one of these; the stage logic itself lives in `t2igan.stages`. Errors a user
can act on are printed as one line (no traceback) with an exit code that tells bad input (2) from transient
trouble (75), which the Prefect flow uses to decide whether a retry can help. Other crashes print a
traceback without local variables: logs are kept (by Prefect, by CI), and locals can hold anything.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from t2igan.env import apply_offline_defaults
from t2igan.errors import ConfigError, T2iganError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help=__doc__.splitlines()[0],
    pretty_exceptions_show_locals=False,
)
flow_app = typer.Typer(no_args_is_help=True, help="The Prefect training flow over the DVC stages.")
app.add_typer(flow_app, name="flow")
services_app = typer.Typer(
    no_args_is_help=True, help="Team mode: PostgreSQL, MLflow and Prefect servers, a worker, S3 (127.0.0.1)."
)
app.add_typer(services_app, name="services")
feedback_app = typer.Typer(no_args_is_help=True, help="People's votes from the studio.")
app.add_typer(feedback_app, name="feedback")
log = logging.getLogger("t2igan")

ParamsOption = Annotated[Path, typer.Option("--params", "-p", help="params file, relative to the project")]
ProjectOption = Annotated[
    Path | None, typer.Option("--project", help="project root (default: current directory)")
]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", "-S", metavar="KEY=VALUE", help="override a param for this run")
]
NotifyOption = Annotated[str | None, typer.Option("--notify-url", help="webhook to POST to when a run fails")]
NameOption = Annotated[str, typer.Option("--name", help="deployment name")]
CronOption = Annotated[str, typer.Option("--cron", help="cron schedule")]
NoScheduleOption = Annotated[bool, typer.Option("--no-schedule", help="runs only when triggered")]
ServicesDirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir", help="services directory (default: $T2IGAN_SERVICES_DIR or <project>/.t2igan-services)"
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(command: F) -> F:
    """Turn `T2iganError` into one line on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except T2iganError as exc:
            name = command.__name__.rstrip("_").replace("_", " ")
            typer.echo(f"t2igan {name}: error: {exc}", err=True)
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


def params_path(params: Path, project: Path | None) -> Path:
    """`--params` as given when absolute or without `--project`, else relative to the project."""
    return params if params.is_absolute() or project is None else project / params


def _run_stage(stage: str, params_file: Path, project: Path | None) -> Any:
    from t2igan.config import load_params
    from t2igan.locks import project_lock
    from t2igan.paths import ProjectPaths

    started = time.perf_counter()
    params = load_params(params_path(params_file, project))
    module = importlib.import_module(f"t2igan.stages.{stage}")
    paths = ProjectPaths.at(project)
    if stage == "train":
        launched = _launch_ranks(params, params_path(params_file, project), project, paths)
        if launched is not None:
            return launched
    with project_lock(paths, stage):
        result = module.run(params, paths)
    # The stage's own time, without interpreter start-up or DVC: the flow reports it beside its task's time.
    typer.echo(f"t2igan {stage}: done in {time.perf_counter() - started:.3f}s", err=True)
    return result


def _launch_ranks(params: Any, params_file: Path, project: Path | None, paths: Any) -> Any | None:
    """`train.nproc` > 1 outside torchrun: start the ranks under torchrun and report their result."""
    from t2igan.training.launch import launch, processes, under_torchrun

    nproc = processes(params.train)
    if nproc <= 1 or under_torchrun():
        return None
    code = launch(nproc, params_file, project)
    if code != 0:
        typer.echo(f"t2igan train: error: {nproc} processes under torchrun, exit code {code}", err=True)
        raise typer.Exit(code)
    from t2igan.io import read_json
    from t2igan.stages.train import TrainResult
    from t2igan.tracking import RunRef

    summary = read_json(paths.metrics("train"))
    return TrainResult(
        RunRef.read(paths.model_dir).run_id,
        int(summary["steps"]),
        int(summary["resumed_from"]),
        float(summary["images_per_second"]),
        {},
    )


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
        "Train the GAN (resumes from the newest matching checkpoint).",
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
    def command(params: ParamsOption = Path("params.yaml"), project: ProjectOption = None) -> None:
        typer.echo(done(_run_stage(stage, params, project)))

    command.__name__ = stage
    return _friendly(command)


for _stage, (_help, _done) in STAGE_COMMANDS.items():
    app.command(name=_stage, help=_help)(_stage_command(_stage, _done))


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
    from t2igan.registry.generate import generate_files

    for path in generate_files(caption, model, output, num_images, seed, project, truncation):
        typer.echo(str(path))


@app.command()
@_friendly
def promote(
    version: Annotated[str | None, typer.Option("--version", help="model version to make @champion")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="why (recorded on the version)")] = None,
    from_feedback: Annotated[
        bool, typer.Option("--from-feedback", help="apply register.human_gate to the waiting @challenger")
    ] = False,
    params: ParamsOption = Path("params.yaml"),
    project: ProjectOption = None,
) -> None:
    """Make a version @champion by hand (the reason and the version it replaces are recorded), or let people's
    votes decide on the waiting @challenger (--from-feedback)."""
    from t2igan.registry.aliases import manual_promote

    if from_feedback:
        if version is not None or reason is not None:
            raise ConfigError("--from-feedback decides by the votes: give no --version or --reason")
        _promote_from_feedback(params, project)
        return
    if version is None or reason is None:
        raise ConfigError("give --version and --reason (or --from-feedback)")
    name, moved = manual_promote(version, reason, params_path(params, project), project)
    typer.echo(
        f"{name} version {version} is @champion"
        if moved
        else f"{name} version {version} is already @champion; nothing changed"
    )


@app.command()
@_friendly
def rollback(params: ParamsOption = Path("params.yaml"), project: ProjectOption = None) -> None:
    """Give @champion back to the version it replaced."""
    from t2igan.registry.aliases import rollback_champion

    name, version = rollback_champion(params_path(params, project), project)
    typer.echo(f"{name} @champion is version {version} again")


def _promote_from_feedback(params: Path, project: Path | None) -> None:
    from t2igan.config import load_params
    from t2igan.feedback.database import feedback_url, open_database
    from t2igan.feedback.gate import promote_from_feedback
    from t2igan.paths import ProjectPaths

    paths = ProjectPaths.at(project)
    outcome = promote_from_feedback(
        load_params(params_path(params, project)), paths, open_database(feedback_url(paths))
    )
    state = "promoted to @champion" if outcome.promoted else "not promoted"
    subject = f"{outcome.model_name} version {outcome.challenger}" if outcome.challenger else outcome.model_name
    typer.echo(f"{subject} {state}: {outcome.reason}")


@app.command()
@_friendly
def studio(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8800,
    draw_limit: Annotated[
        str, typer.Option("--draw-limit", help="per client: generate/compare/describe requests")
    ] = "5/second;120/minute",
    feedback_limit: Annotated[
        str, typer.Option("--feedback-limit", help="per client: votes and thumbs")
    ] = "5/second;300/minute",
    params: ParamsOption = Path("params.yaml"),
    project: ProjectOption = None,
) -> None:
    """The web studio: try @champion, compare it blind with @challenger and vote, see the registry."""
    from t2igan.studio.limits import RateLimits
    from t2igan.studio.server import serve, studio_settings

    try:
        limits = RateLimits(draw=draw_limit, feedback=feedback_limit)
        settings = studio_settings(params_path(params, project), project, limits)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    typer.echo(f"t2igan studio on http://{host}:{port}/ (feedback: {settings.feedback_url})", err=True)
    serve(settings, host, port)


@feedback_app.command("report")
@_friendly
def feedback_report_command(
    as_json: Annotated[bool, typer.Option("--json", help="the report as JSON")] = False,
    params: ParamsOption = Path("params.yaml"),
    project: ProjectOption = None,
) -> None:
    """Win rates of the versions people compared (logged as MLflow metrics), thumbs, hard prompts."""
    import json

    from t2igan.config import load_params
    from t2igan.feedback.database import feedback_url, open_database
    from t2igan.feedback.report import feedback_report, summary_lines
    from t2igan.paths import ProjectPaths

    paths = ProjectPaths.at(project)
    report = feedback_report(
        load_params(params_path(params, project)), paths, open_database(feedback_url(paths))
    )
    typer.echo(json.dumps(report, indent=2) if as_json else "\n".join(summary_lines(report)))


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


@app.command()
@_friendly
def describe(
    image: Annotated[Path, typer.Argument(help="a PNG, JPEG or WebP file")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="how many captions (1 to 50)")] = 5,
    params: ParamsOption = Path("params.yaml"),
    project: ProjectOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="a JSON list of {caption, score}")] = False,
) -> None:
    """The training captions that best describe an image (evaluation's retrieval encoder, cosine scores)."""
    import json

    from t2igan.config import load_params
    from t2igan.describe import CaptionIndex, check_top_k, read_image_file
    from t2igan.paths import ProjectPaths

    data = read_image_file(image)
    check_top_k(top_k)
    index = CaptionIndex.load(load_params(params_path(params, project)), ProjectPaths.at(project))
    matches = index.describe(data, top_k)
    if as_json:
        typer.echo(json.dumps([{"caption": m.caption, "score": round(m.score, 6)} for m in matches]))
    else:
        for match in matches:
            typer.echo(f"{match.score:.3f}  {match.caption}")


def _flows(project: Path | None) -> Path:
    """Make the project's `flows` package importable (and the project the working directory) for a flow."""
    root = (project or Path.cwd()).resolve()
    if not (root / "flows" / "training.py").is_file():
        raise ConfigError(f"{root}: no flows/training.py here (--project names a t2igan project)")
    os.chdir(root)  # Prefect's runner starts flow runs from the working directory, by entrypoint
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    return root


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """`key=value` pairs, values read as YAML (numbers, booleans, lists), as `dvc exp run -S` reads them."""
    import yaml

    parsed: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value, such as train.lr_g=0.0002")
        parsed[key.strip()] = yaml.safe_load(value)
    return parsed


@flow_app.command("run")
@_friendly
def flow_run(
    project: ProjectOption = None,
    set_: SetOption = None,
    no_pull: Annotated[bool, typer.Option("--no-pull", help="skip dvc pull")] = False,
    no_push: Annotated[bool, typer.Option("--no-push", help="skip dvc push")] = False,
    summary_json: Annotated[
        Path | None, typer.Option("--summary-json", help="also write the summary here")
    ] = None,
) -> None:
    """Run the training flow once: dvc pull, every DVC stage (unchanged ones skipped), dvc push, report."""
    summary_path = summary_json.resolve() if summary_json else None
    overrides = parse_set(set_)
    root = _flows(project)
    from flows.training import run_once

    typer.echo(run_once(root, overrides, pull=not no_pull, push=not no_push, summary_json=summary_path))


@flow_app.command("serve")
@_friendly
def flow_serve(
    project: ProjectOption = None,
    name: NameOption = "t2igan-scheduled",
    cron: CronOption = "0 3 * * *",
    no_schedule: NoScheduleOption = False,
    set_: SetOption = None,
    notify_url: NotifyOption = None,
) -> None:
    """Serve the training flow as a deployment on a cron schedule, running its runs here until stopped."""
    root = _flows(project)
    from flows.deployment import serve

    serve(root, name, None if no_schedule else cron, parse_set(set_), notify_url)


@flow_app.command("deploy")
@_friendly
def flow_deploy(
    pool: Annotated[str, typer.Option("--pool", help="work pool (process, docker, kubernetes, ...)")],
    project: ProjectOption = None,
    name: NameOption = "t2igan-scheduled",
    cron: CronOption = "0 3 * * *",
    no_schedule: NoScheduleOption = False,
    set_: SetOption = None,
    notify_url: NotifyOption = None,
    image: Annotated[str | None, typer.Option("--image", help="container image holding the project")] = None,
    gpus: Annotated[int, typer.Option("--gpus", help="GPUs per run on a docker pool (-1 = all)")] = 0,
    job_variables: Annotated[str | None, typer.Option("--job-variables", help="JSON job variables")] = None,
) -> None:
    """Register the training flow's deployment on a work pool; a worker of the pool runs it."""
    root = _flows(project)
    from flows.deployment import DeployTarget, deploy

    target = DeployTarget(pool, image, gpus, job_variables)
    deployed = deploy(root, name, None if no_schedule else cron, parse_set(set_), notify_url, target)
    typer.echo(f"deployment {deployed} registered on pool {pool}")


@services_app.command("start")
@_friendly
def services_start(
    directory: ServicesDirOption = None,
    project: ProjectOption = None,
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
) -> None:
    """Start the team services that are not running, write team.env, and point the project's DVC at S3."""
    from t2igan.services import team
    from t2igan.services.layout import ServicesLayout

    layout = ServicesLayout.at(directory, project)
    started = team.start(layout, team.wanted_config(artifacts, port), tuple(only or ()) or None)
    for name, now in started.items():
        typer.echo(f"{name}: {'started' if now else 'already running'}")
    if "s3" in started and (remote := team.configure_dvc_remote(project or Path.cwd(), layout.config())):
        typer.echo(f"dvc remote: {remote} (.dvc/config.local)")
    typer.echo(
        f"environment: {layout.env_file}  (make reads it; in a shell: set -a; . {layout.env_file}; set +a)"
    )


@services_app.command("stop")
@_friendly
def services_stop(directory: ServicesDirOption = None, project: ProjectOption = None) -> None:
    """Stop the team services (their data stays) and remove team.env: the project is back in laptop mode."""
    from t2igan.services import team
    from t2igan.services.layout import ServicesLayout

    for name, was_running in team.stop(ServicesLayout.at(directory, project)).items():
        typer.echo(f"{name}: {'stopped' if was_running else 'not running'}")
    team.forget_dvc_remote(project or Path.cwd())


@services_app.command("status")
@_friendly
def services_status(directory: ServicesDirOption = None, project: ProjectOption = None) -> None:
    """Each team service's state; exits 1 when one is stopped."""
    from t2igan.services import team
    from t2igan.services.layout import ServicesLayout

    found = team.status(ServicesLayout.at(directory, project))
    for name, state in found.items():
        typer.echo(f"{name}: {state}")
    if any(state == "stopped" for state in found.values()):
        raise typer.Exit(1)


def main() -> None:
    """The console script; under torchrun, with torch's `record`, so a rank's error reaches its summary."""
    if "TORCHELASTIC_RUN_ID" in os.environ:
        from torch.distributed.elastic.multiprocessing.errors import record

        record(app)()
    else:
        app()


if __name__ == "__main__":
    main()
