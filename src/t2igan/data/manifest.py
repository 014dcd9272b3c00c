"""The manifest: one row per (image, caption), the contract between ingest and every later stage.

Columns (DESIGN.md): id, image_id, split, caption, image_path (relative to the dataset root), sha256, width,
height, source, attributes (JSON; ground truth for the synthetic set, "{}" otherwise), and problem: what ingest
could already see was wrong with the row (a malformed line, a caption that is not UTF-8), so that validate
quarantines it with that reason instead of ingest dropping it. Several captions of one image share its
image_id. Width and height come from the file header at ingest; validate decodes for real.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from t2igan.data.images import BadImage, confine
from t2igan.data.tasks import run_tasks, task_chunks
from t2igan.errors import StageInputError
from t2igan.io import atomic_path, sha256_file
from t2igan.paths import ProjectPaths

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
        ("problem", pa.string()),
    ]
)
COLUMNS = tuple(SCHEMA.names)


def _header_size(path: Path) -> tuple[int | None, int | None]:
    """Width and height from the file header without decoding pixels (None when unreadable)."""
    try:
        with Image.open(path) as image:
            return image.size
    except Exception:  # any unreadable file is validate's to reject, with its reason
        return None, None


def storable(text: str | None) -> str | None:
    """Text as valid UTF-8: bytes an importer could not decode (kept as surrogates) become U+FFFD.

    The row's `problem` already says the original was not UTF-8; the manifest itself must stay writable.
    """
    if text is None:
        return None
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@functools.lru_cache(maxsize=65536)
def file_facts(full: Path) -> tuple[str | None, int | None, int | None]:
    """(sha256, width, height) of an image file, read once however many captions it has."""
    if not full.is_file():
        return None, None, None
    width, height = _header_size(full)
    return sha256_file(full), width, height


def manifest_row(
    *,
    row_id: str,
    image_id: str,
    split: str,
    caption: str | None,
    image_path: str | None,
    source: str,
    attributes: dict[str, Any] | None = None,
    problem: str | None = None,
) -> dict[str, Any]:
    """One manifest row; its image's facts (hash, header size) are filled in after, by `with_file_facts` (or,
    for a shard's member, from its bytes)."""
    return {
        "id": storable(row_id),
        "image_id": storable(image_id),
        "split": storable(split),
        "caption": storable(caption),
        "image_path": storable(image_path),
        "sha256": None,
        "width": None,
        "height": None,
        "source": source,
        "attributes": json.dumps(attributes or {}, sort_keys=True),
        "problem": problem,
    }


def _facts_task(root: Path, image_paths: list[str]) -> list[tuple[str | None, int | None, int | None]]:
    """(sha256, width, height) of each path that stays inside `root` (one task)."""
    facts = []
    for image_path in image_paths:
        try:
            facts.append(file_facts(confine(root, image_path)))
        except BadImage:  # outside the root: validate rejects it, unopened
            facts.append((None, None, None))
    return facts


def with_file_facts(rows: list[dict[str, Any]], root: Path, workers: int | None) -> None:
    """Fill in each row's image facts, each distinct file read once, in tasks of a chunk of files each.

    A path is resolved, symlinks included, and confined to the root before anything is opened: a link to
    /etc/passwd is never read, not even hashed (validate then rejects the row as escaping the root).
    """
    paths = list(dict.fromkeys(row["image_path"] for row in rows if isinstance(row["image_path"], str)))
    chunks = task_chunks(paths)
    found = run_tasks(
        functools.partial(_facts_task, root), chunks, workers=workers, stage="ingest", phase="hash"
    )
    facts: dict[str, tuple[str | None, int | None, int | None]] = {}
    for chunk, results in zip(chunks, found, strict=True):
        facts.update(zip(chunk, results, strict=True))
    for row in rows:
        if isinstance(row["image_path"], str):
            row["sha256"], row["width"], row["height"] = facts[row["image_path"]]


def to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype({"width": "Int64", "height": "Int64"})


def write_manifest(frame: pd.DataFrame, path: Path, extra_columns: tuple[str, ...] = ()) -> None:
    """Write atomically with the manifest schema (plus stage-specific extra columns)."""
    columns = list(COLUMNS) + list(extra_columns)
    table = pa.Table.from_pandas(frame[columns].reset_index(drop=True), preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_manifest(path: Path, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The manifest, or only `columns` of it (a reader that needs two columns of millions of rows)."""
    if not path.is_file():
        raise StageInputError(f"{path}: manifest not found (run the stage that writes it first)")
    names = pq.read_schema(path).names
    missing = [column for column in (columns or COLUMNS) if column not in names]
    if missing:
        raise StageInputError(f"{path}: manifest lacks columns {missing}")
    if columns is None:
        return pq.read_table(path).to_pandas()
    # a few columns of a large manifest: repeated strings (splits) as categories, not one object per row
    return pq.read_table(path, columns=list(columns)).to_pandas(strings_to_categorical=True)


def read_clean_manifest(paths: ProjectPaths, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """validate's clean rows; when validate ran and rejected the dataset, an error that says so."""
    if not paths.clean_manifest.is_file() and paths.rejected.is_file():
        rejected = pq.read_metadata(paths.rejected).num_rows
        rows = pq.read_metadata(paths.manifest).num_rows if paths.manifest.is_file() else rejected
        raise StageInputError(
            f"{paths.clean_manifest}: validate rejected the dataset ({rejected} of {rows} rows; see "
            f"{paths.validation_report}): fix the data or raise validation.max_bad_fraction, then run validate "
            "again"
        )
    return read_manifest(paths.clean_manifest, columns)
