"""`t2igan feedback`: what people said in the studio."""

from __future__ import annotations

from typing import Annotated

import typer

from t2igan.cli.project import ParamsOption, ProjectOption, friendly, project

app = typer.Typer(no_args_is_help=True, help="People's votes from the studio.")


@app.command("report")
@friendly
def report(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="the report as JSON")] = False,
    _params: ParamsOption = None,
    _project: ProjectOption = None,
) -> None:
    """Win rates of the versions people compared (logged as MLflow metrics), thumbs, hard prompts."""
    import json

    from t2igan.feedback.database import feedback_url, open_database
    from t2igan.feedback.summary import summary_lines
    from t2igan.registry.human_gate import feedback_report

    chosen = project(ctx)
    found = feedback_report(chosen.params, chosen.paths, open_database(feedback_url(chosen.paths)))
    typer.echo(json.dumps(found, indent=2) if as_json else "\n".join(summary_lines(found)))
