"""Importers: each reads one dataset layout into manifest rows, never dropping a row it cannot parse.

A line or record that is malformed still becomes a row, with `problem` saying what is wrong, so that validate
quarantines it with that reason. Only a dataset that cannot be read at all (no such directory, an unreadable
annotation file) fails ingest outright, with one line naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, assert_never

from t2igan.config import DataParams
from t2igan.errors import DataError


@dataclass
class Imported:
    rows: list[dict[str, Any]]
    root: Path  # where the rows' image paths resolve (relative: to the ingest directory)
    extra: dict[str, Any] = field(default_factory=dict)


def utf8_problem(*values: object) -> str | None:
    """Text decoded with surrogateescape (or JSON with lone surrogates) is not valid UTF-8."""
    for value in values:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "caption is not valid UTF-8"
    return None


def read_source(data: DataParams, staging: Path) -> Imported:
    """The configured dataset as manifest rows; the synthetic set is rendered into `staging` first.

    One branch per source in `t2igan.config.Source`: the type checker fails the build if a source is added
    there without a reader here.
    """
    from t2igan.data.importers import coco, folder, imagefolder, reed, synthetic, table

    source = data.source
    match source:
        case "synthetic":
            return synthetic.read(data, staging)
        case "coco":
            imported = coco.read(data)
        case "reed":
            imported = reed.read(data)
        case "tsv":
            imported = table.read_tsv(data)
        case "csv":
            imported = table.read_csv(data)
        case "jsonl":
            imported = table.read_jsonl(data)
        case "imagefolder":
            imported = imagefolder.read(data)
        case "folder":
            imported = folder.read(data)
        case _:
            assert_never(source)
    if not imported.rows:
        raise DataError(f"{data.path}: no captioned images found for source {source!r}")
    return imported
