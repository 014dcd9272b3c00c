"""`t2igan doctor`: is everything the pipeline needs offline present?

It sits with the CLI, not the infrastructure: it asks the text and metrics packages for their files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from t2igan.cli.project import ProjectOption, friendly, project
from t2igan.config import DEFAULT_PARAMS_FILE, EmbedParams

app = typer.Typer()


@app.command()
@friendly
def doctor(ctx: typer.Context, _project: ProjectOption = None) -> None:
    """Check that everything the pipeline needs offline is in place."""
    failed = False
    for name, ok, detail in checks(project(ctx).root):
        failed |= not ok
        typer.echo(f"[{'ok' if ok else 'FAIL'}] {name}: {detail}")
    if failed:
        raise typer.Exit(1)


def checks(project: Path | None) -> list[tuple[str, bool, str]]:
    out: list[tuple[str, bool, str]] = []

    def check(name: str, probe: Callable[[], object]) -> None:
        try:
            out.append((name, True, str(probe())))
        except Exception as exc:  # report every failure, keep checking the rest
            out.append((name, False, f"{type(exc).__name__}: {exc}"))

    import torch

    check("torch", lambda: f"{torch.__version__}, cuda={'yes' if torch.cuda.is_available() else 'no'}")

    def encoder() -> str:
        from t2igan.text.locate import resolve_encoder_path

        return str(resolve_encoder_path(EmbedParams().encoder))

    check("text encoder (offline)", encoder)

    def inception() -> str:
        from t2igan.vision.inception import default_inception_path

        return str(default_inception_path())

    check("FID Inception weights", inception)

    def tracking() -> str:
        from t2igan.paths import ProjectPaths
        from t2igan.tracking import tracking_uri

        return tracking_uri(ProjectPaths.at(project))

    check("MLflow tracking URI", tracking)

    def params() -> str:
        from t2igan.config import load_params

        load_params(Path(project or ".") / DEFAULT_PARAMS_FILE)
        return f"{DEFAULT_PARAMS_FILE} valid"

    check(DEFAULT_PARAMS_FILE, params)
    return out
