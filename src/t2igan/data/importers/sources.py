"""The configured dataset as manifest rows: one branch per source, then the test split where it had none."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import assert_never

from t2igan.config import DataParams
from t2igan.data.importers import coco, folder, imagefolder, reed, synthetic, table, webdataset
from t2igan.data.importers.base import Imported
from t2igan.data.manifest import with_file_facts
from t2igan.data.splits import TEST, TRAIN, hash_split
from t2igan.errors import DataError

log = logging.getLogger(__name__)


def read_source(data: DataParams, staging: Path) -> Imported:
    """The configured dataset as manifest rows; the synthetic set is rendered into `staging` first.

    One branch per source in `t2igan.config.Source`: the type checker fails the build if a source is added
    there without a reader here.
    """
    source = data.source
    match source:
        case "synthetic":
            imported = synthetic.read(data, staging)
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
        case "webdataset":
            imported = webdataset.read(data)
        case _:
            assert_never(source)
    if not imported.rows:
        raise DataError(f"{data.path}: no captioned images found for source {source!r}")
    if isinstance(imported.root, Path):  # files (a shard's members had their facts from their bytes)
        with_file_facts(imported.rows, staging / imported.root, data.workers)
    _warn_when_no_image_is_found(imported)
    return _with_test_split(imported, data.test_fraction)


def _warn_when_no_image_is_found(imported: Imported) -> None:
    """Paths relative to the wrong folder find nothing: say where they were looked for, before validate."""
    named = [row for row in imported.rows if row["image_path"]]
    if named and all(row["sha256"] is None for row in named):
        log.warning(
            "none of the %d image paths exists under %s (data.image_root: the folder they are relative to)",
            len(named),
            imported.root,
        )


def _with_test_split(imported: Imported, test_fraction: float) -> Imported:
    """A dataset that brought no test split (COCO with a train file only, an imagefolder with only train/)
    gets one by a hash of each image id, as `data.test_fraction` says; one that has its own keeps it."""
    if any(row["split"] == TEST for row in imported.rows):
        return imported
    for row in imported.rows:
        if row["split"] == TRAIN:
            row["split"] = hash_split(row["image_id"], test_fraction)
    return imported
