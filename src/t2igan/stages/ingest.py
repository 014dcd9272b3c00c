"""Ingest: read the configured source into the one manifest (and, for the synthetic set, render it)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from t2igan.config import Params
from t2igan.data import synthetic
from t2igan.data.dataset import DatasetInfo
from t2igan.data.importers import importer
from t2igan.data.manifest import file_facts, to_frame, write_manifest
from t2igan.errors import DataError
from t2igan.io import atomic_dir
from t2igan.paths import ProjectPaths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    rows: int
    images: int
    splits: dict[str, int]


def run(params: Params, paths: ProjectPaths) -> IngestResult:
    data = params.data
    file_facts.cache_clear()  # files may have changed since an earlier ingest in this process
    # Build the whole output next to the old one and swap it in: a crash leaves the previous ingest intact.
    with atomic_dir(paths.ingest_dir) as staging:
        if data.source == "synthetic":
            rows = synthetic.write_dataset(data.synthetic, staging)
            extra = {
                "attributes": {name: list(values) for name, values in synthetic.ATTRIBUTES.items()},
                "heldout_pairs": sorted(
                    list(pair)
                    for pair in synthetic.heldout_pairs(data.synthetic.seed, data.synthetic.heldout_per_color)
                ),
            }
            root = "."
        else:
            imported = importer(data.source)(data)
            rows, extra, root = imported.rows, imported.extra, str(imported.root)
            if not rows:
                raise DataError(f"{data.path}: no captioned images found for source {data.source!r}")
        frame = to_frame(rows)
        write_manifest(frame, staging / paths.manifest.name)
        info = DatasetInfo(
            name=data.name,
            source=data.source,
            root=root,
            rows=len(frame),
            images=int(frame["image_id"].nunique()),
            extra=extra,
        )
        info.write(staging / paths.dataset_info.name)
    splits = {str(k): int(v) for k, v in frame.groupby("split")["image_id"].nunique().items()}
    log.info("ingested %d captions of %d images from %s: %s", info.rows, info.images, data.source, splits)
    return IngestResult(rows=info.rows, images=info.images, splits=splits)
