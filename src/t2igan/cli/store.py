"""`t2igan store copy URL`: the sharded image store to object storage, for training that reads it from there."""

from __future__ import annotations

from typing import Annotated

import typer

from t2igan.cli.project import ProjectOption, friendly, project

app = typer.Typer(help="The image store: copy a sharded store where every training node can read it.")


@app.command("copy")
@friendly
def copy(
    ctx: typer.Context,
    destination: Annotated[str, typer.Argument(help="a directory or an fsspec URL: s3://bucket/stores/name")],
    _project: ProjectOption = None,
) -> None:
    """Copy data/clean/images (shards, then index.json) to DESTINATION; then set train.stream.url to it."""
    from t2igan.data.sharded_store import copy_store

    paths = project(ctx).paths
    copied = copy_store(paths.image_shards, destination)
    typer.echo(f"copied {copied} shards and index.json to {destination} (train.stream.url: {destination})")
