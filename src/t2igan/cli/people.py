"""What people use beside the pipeline: the studio (try, compare, vote) and describe (image to captions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from t2igan.cli.project import ParamsOption, ProjectOption, friendly, project
from t2igan.describe.checks import DEFAULT_TOP_K, MAX_TOP_K
from t2igan.errors import ConfigError
from t2igan.studio.limits import DEFAULT_DRAW, DEFAULT_FEEDBACK

app = typer.Typer()


@app.command()
@friendly
def studio(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8800,
    draw_limit: Annotated[
        str, typer.Option("--draw-limit", help="per client: generate/compare/describe requests")
    ] = DEFAULT_DRAW,
    feedback_limit: Annotated[
        str, typer.Option("--feedback-limit", help="per client: votes and thumbs")
    ] = DEFAULT_FEEDBACK,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            help="the reverse proxies (addresses, comma-separated) whose X-Forwarded-For names the client",
        ),
    ] = None,
    _params: ParamsOption = None,
    _project: ProjectOption = None,
) -> None:
    """The web studio: try @champion, compare it blind with @challenger and vote, see the registry."""
    from t2igan.studio.limits import RateLimits
    from t2igan.studio.server import serve, studio_settings

    chosen = project(ctx)
    try:
        limits = RateLimits(draw=draw_limit, feedback=feedback_limit)
        settings = studio_settings(chosen.params, chosen.paths, limits)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    typer.echo(f"t2igan studio on http://{host}:{port}/ (feedback: {settings.feedback_url})", err=True)
    serve(settings, host, port, forwarded_allow_ips)


@app.command()
@friendly
def describe(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="a PNG, JPEG or WebP file")],
    top_k: Annotated[
        int, typer.Option("--top-k", "-k", help=f"how many captions (1 to {MAX_TOP_K})")
    ] = DEFAULT_TOP_K,
    as_json: Annotated[bool, typer.Option("--json", help="a JSON list of {caption, score}")] = False,
    _params: ParamsOption = None,
    _project: ProjectOption = None,
) -> None:
    """The training captions that best describe an image (evaluation's retrieval encoder, cosine scores)."""
    import json

    from t2igan.describe.checks import check_top_k
    from t2igan.describe.index import CaptionIndex
    from t2igan.describe.upload import read_image_file

    chosen = project(ctx)
    data = read_image_file(image)
    check_top_k(top_k)
    matches = CaptionIndex.load(chosen.params, chosen.paths).describe(data, top_k)
    if as_json:
        typer.echo(json.dumps([{"caption": m.caption, "score": round(m.score, 6)} for m in matches]))
    else:
        for match in matches:
            typer.echo(f"{match.score:.3f}  {match.caption}")
