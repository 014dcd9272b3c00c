"""Importers: each reads one dataset layout into manifest rows, never dropping a row it cannot parse.

A line or record that is malformed still becomes a row, with `problem` saying what is wrong, so that validate
quarantines it with that reason. Only a dataset that cannot be read at all (no such directory, an unreadable
annotation file) fails ingest outright, with one line naming the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from t2igan.config import DataParams

SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "test": "test",
    "testing": "test",
    "val": "test",
    "valid": "test",
    "validation": "test",
    "dev": "test",
}


@dataclass
class Imported:
    rows: list[dict[str, Any]]
    root: Path  # where the rows' image paths resolve
    extra: dict[str, Any] = field(default_factory=dict)


def hash_split(image_id: str, test_fraction: float) -> str:
    """A split that depends only on the image id: stable across runs, machines and dataset growth."""
    bucket = int.from_bytes(hashlib.sha256(image_id.encode("utf-8", "surrogatepass")).digest()[:8], "big")
    return "test" if bucket / 2**64 < test_fraction else "train"


def normalize_split(value: object) -> str:
    text = str(value).strip().lower()
    return SPLIT_ALIASES.get(text, text)


def utf8_problem(*values: object) -> str | None:
    """Text decoded with surrogateescape (or JSON with lone surrogates) is not valid UTF-8."""
    for value in values:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "caption is not valid UTF-8"
    return None


def importer(source: str) -> Callable[[DataParams], Imported]:
    from t2igan.data.importers import coco, folder, imagefolder, reed, table

    return {
        "coco": coco.read,
        "reed": reed.read,
        "tsv": table.read_tsv,
        "csv": table.read_csv,
        "jsonl": table.read_jsonl,
        "imagefolder": imagefolder.read,
        "folder": folder.read,
    }[source]
