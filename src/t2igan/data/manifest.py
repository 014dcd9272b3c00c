"""The manifest: one row per (image, caption), the contract between ingest and every later stage.

Columns (DESIGN.md): id, image_id, split, caption, image_path (relative to the dataset root), sha256, width,
height, source, attributes (JSON; ground truth for the synthetic set, "{}" otherwise). Several captions of one
image share its image_id. Width and height come from the file header at ingest; validate decodes for real.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from t2igan.errors import StageInputError
from t2igan.io import atomic_path, sha256_file

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("image_id", pa.string()),
        ("split", pa.string()),
        ("caption", pa.string()),
        ("image_path", pa.string()),
        ("sha256", pa.string()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("source", pa.string()),
        ("attributes", pa.string()),
    ]
)
COLUMNS = tuple(SCHEMA.names)
SPLITS = ("train", "test", "heldout")


def _header_size(path: Path) -> tuple[int | None, int | None]:
    """Width and height from the file header without decoding pixels (None when unreadable)."""
    try:
        with Image.open(path) as image:
            return image.size
    except Exception:  # any unreadable file is validate's to reject, with its reason
        return None, None


def manifest_row(
    *,
    row_id: str,
    image_id: str,
    split: str,
    caption: str,
    image_path: str,
    root: Path,
    source: str,
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build one manifest row, reading file facts (hash, header size) when the file is inside `root`."""
    full = root / image_path
    exists = full.is_file()
    width, height = _header_size(full) if exists else (None, None)
    return {
        "id": row_id,
        "image_id": image_id,
        "split": split,
        "caption": caption,
        "image_path": image_path,
        "sha256": sha256_file(full) if exists else None,
        "width": width,
        "height": height,
        "source": source,
        "attributes": json.dumps(attributes or {}, sort_keys=True),
    }


def to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype({"width": "Int64", "height": "Int64"})


def write_manifest(frame: pd.DataFrame, path: Path, extra_columns: tuple[str, ...] = ()) -> None:
    """Write atomically with the manifest schema (plus stage-specific extra columns)."""
    columns = list(COLUMNS) + list(extra_columns)
    table = pa.Table.from_pandas(frame[columns].reset_index(drop=True), preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_manifest(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise StageInputError(f"{path}: manifest not found (run the stage that writes it first)")
    frame = pq.read_table(path).to_pandas()
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise StageInputError(f"{path}: manifest lacks columns {missing}")
    return frame
