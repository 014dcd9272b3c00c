"""Ingest: read the configured source into the one manifest (and, for the synthetic set, render it)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from t2igan.config import Params
from t2igan.data.dataset import DatasetInfo
from t2igan.data.importers.sources import read_source
from t2igan.data.manifest import file_facts, to_frame, write_manifest
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
        imported = read_source(data, staging)
        frame = to_frame(imported.rows)
        write_manifest(frame, staging / paths.manifest.name)
        info = DatasetInfo.describe(data, imported, frame)
        info.write(staging / paths.dataset_info.name)
    splits = {str(k): int(v) for k, v in frame.groupby("split")["image_id"].nunique().items()}
    log.info("ingested %d captions of %d images from %s: %s", info.rows, info.images, data.source, splits)
    return IngestResult(rows=info.rows, images=info.images, splits=splits)
