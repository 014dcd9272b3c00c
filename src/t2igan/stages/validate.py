"""Validate: decode every image once, run the great-expectations suite, quarantine bad rows, build the store.

Outputs (data/clean/): manifest.parquet (good rows, with `store_index`), rejected.parquet (bad rows with a
one-line `reason`), images.npy (the image store; or images/, its shards and index.json, as data.store says),
report.md, data_docs/ (the suite's results as GX Data Docs,
linked from report.md; deterministic, as the rest of the directory, since train and evaluate hash it); and
metrics/validate.json. The stage fails when the rejected share exceeds `validation.max_bad_fraction`; the
rejects, the report and the Data Docs are still written so that the person can see why.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from t2igan.config import Params
from t2igan.data.dataset import DatasetInfo
from t2igan.data.inspection import decoded_images, number_rows
from t2igan.data.manifest import read_manifest, write_manifest
from t2igan.data.quality import DATA_DOCS_DIR, run_suite
from t2igan.data.quarantine import Verdict, report, sort_rows, write_rejected
from t2igan.data.sharded_store import wants_shards, write_sharded_store
from t2igan.data.splits import MIN_TEST_IMAGES
from t2igan.data.store import write_store
from t2igan.errors import DataError
from t2igan.io import atomic_dir, write_json, write_text
from t2igan.paths import ProjectPaths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidateResult:
    rows: int
    clean_rows: int
    rejected_rows: int
    images: int
    reasons: dict[str, int]

    @classmethod
    def of(cls, verdict: Verdict) -> ValidateResult:
        return cls(
            verdict.rows, len(verdict.clean), len(verdict.rejected), len(verdict.store_paths), verdict.reasons
        )

    @property
    def bad_fraction(self) -> float:
        return self.rejected_rows / self.rows if self.rows else 1.0


def run(params: Params, paths: ProjectPaths) -> ValidateResult:
    cfg, info = params.validation, DatasetInfo.read(paths)
    frame = number_rows(read_manifest(paths.manifest))
    size, root = params.data.image_size, info.root_path(paths)
    with (
        atomic_dir(paths.clean_dir) as staging,
        decoded_images(frame, root, cfg, size, staging / "candidates.npy", params.data.workers) as decoded,
    ):
        quality = run_suite(decoded.frame, cfg, staging / DATA_DOCS_DIR)
        verdict = sort_rows(decoded.frame, quality)
        write_rejected(verdict, staging / paths.rejected.name)
        write_text(staging / paths.validation_report.name, report(verdict, quality, info, cfg.max_bad_fraction))
        failed = verdict.failed(cfg.max_bad_fraction)
        untestable = not failed and verdict.test_images < MIN_TEST_IMAGES
        if not failed and not untestable:
            write_manifest(verdict.clean, staging / paths.clean_manifest.name, extra_columns=("store_index",))
            _write_images(params, paths, staging, decoded.images(verdict.store_paths), len(verdict.store_paths))
    result = ValidateResult.of(verdict)
    _write_metrics(paths, result)
    for reason, count in list(result.reasons.items())[:10]:
        log.warning("rejected %d row(s): %s", count, reason)
    if failed and verdict.every_image_missing:
        raise DataError(
            f"{paths.manifest}: every image is missing under {root}: set data.image_root in params.yaml to the "
            "folder the image paths are relative to"
        )
    if failed:
        top = ", ".join(f"{count} {reason}" for reason, count in list(result.reasons.items())[:3])
        raise DataError(
            f"{paths.manifest}: {result.rejected_rows} of {result.rows} rows rejected "
            f"({result.bad_fraction:.1%} > validation.max_bad_fraction {cfg.max_bad_fraction:.1%}): {top}; "
            f"raise validation.max_bad_fraction in params.yaml or fix the rows listed in {paths.rejected}"
        )
    counts = (result.rows, result.clean_rows, result.rejected_rows, result.images)
    if untestable:
        raise DataError(
            f"{paths.clean_manifest}: {verdict.test_images} test images after validation, and evaluation "
            f"needs at least {MIN_TEST_IMAGES}: raise data.test_fraction in params.yaml or give the dataset a "
            "test split"
        )
    log.info("validated %d rows: %d clean, %d rejected, %d images stored", *counts)
    return result


def _write_images(
    params: Params, paths: ProjectPaths, staging: Path, images: Iterator[np.ndarray], count: int
) -> None:
    """The store as data.store says: one array, or shards and their index (t2igan.data.sharded_store)."""
    data = params.data
    if wants_shards(data.store, count, data.image_size, data.store_array_max_gb):
        directory = staging / paths.image_shards.name
        write_sharded_store(
            directory,
            images,
            count=count,
            size=data.image_size,
            per_shard=data.shard_samples,
            workers=data.workers,
        )
    else:
        write_store(staging / paths.image_store.name, images, count=count, size=data.image_size)


def _write_metrics(paths: ProjectPaths, result: ValidateResult) -> None:
    write_json(
        paths.metrics("validate"),
        {
            "rows": result.rows,
            "clean_rows": result.clean_rows,
            "rejected_rows": result.rejected_rows,
            "bad_fraction": round(result.bad_fraction, 6),
            "images": result.images,
            "reasons": result.reasons,
        },
    )
