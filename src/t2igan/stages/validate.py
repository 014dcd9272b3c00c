"""Validate: decode every image once, run the great-expectations suite, quarantine bad rows, build the store.

Outputs (data/clean/): manifest.parquet (good rows, with `store_index`), rejected.parquet (bad rows with a
one-line `reason`), images.npy (the image store), report.md. The stage fails when the rejected share exceeds
`validation.max_bad_fraction`; the rejects and the report are still written so that the person can see why.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from t2igan.config import Params
from t2igan.data.dataset import DatasetInfo
from t2igan.data.images import BadImage, center_crop_resize, confine, decode
from t2igan.data.manifest import COLUMNS, read_manifest, write_manifest
from t2igan.data.quality import ROW_KEY, QualityResult, run_suite
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

    @property
    def bad_fraction(self) -> float:
        return self.rejected_rows / self.rows if self.rows else 1.0


@dataclass(frozen=True)
class _Decoded:
    width: int | None
    height: int | None
    error: str | None


def _mark_duplicates(frame: pd.DataFrame) -> pd.Series:
    """Row id of the first occurrence for repeated ids or repeated (image, caption) pairs, else None."""
    first_of: dict[object, int] = {}
    duplicate_of: list[object] = []
    for row, row_id, image_path, caption in zip(
        frame[ROW_KEY], frame["id"], frame["image_path"], frame["caption"], strict=True
    ):
        keys = (("id", row_id), ("pair", image_path, caption))
        earlier = next((first_of[key] for key in keys if key in first_of), None)
        duplicate_of.append(earlier)
        if earlier is None:
            for key in keys:
                first_of[key] = row
    return pd.Series(duplicate_of, index=frame.index, dtype="object")


def _decode_into(root: Path, relative: str, max_pixels: int, size: int, slot: int, out: np.ndarray) -> _Decoded:
    try:
        image = decode(confine(root, relative), max_pixels)
    except BadImage as exc:
        return _Decoded(None, None, str(exc))
    width, height = image.size
    out[slot] = center_crop_resize(image, size)
    return _Decoded(width, height, None)


def _decode_facts(
    frame: pd.DataFrame, root: Path, params: Params, candidates_path: Path
) -> tuple[pd.DataFrame, dict[str, int], np.ndarray]:
    """Decode each distinct image path once (threads: Pillow releases the GIL while decoding)."""
    size = params.data.image_size
    paths = [p for p in dict.fromkeys(frame["image_path"].tolist()) if isinstance(p, str)]
    slots = {path: slot for slot, path in enumerate(paths)}
    candidates = np.lib.format.open_memmap(
        candidates_path, mode="w+", dtype=np.uint8, shape=(max(len(paths), 1), size, size, 3)
    )
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        decoded = list(
            pool.map(
                lambda item: _decode_into(
                    root, item[0], params.validation.max_pixels, size, item[1], candidates
                ),
                slots.items(),
            )
        )
    facts = dict(zip(paths, decoded, strict=True))
    width = frame["image_path"].map(lambda p: facts[p].width if p in facts else None)
    height = frame["image_path"].map(lambda p: facts[p].height if p in facts else None)
    errors = frame["image_path"].map(lambda p: facts[p].error if p in facts else None)
    out = frame.assign(
        decoded_width=pd.to_numeric(width, errors="coerce"),
        decoded_height=pd.to_numeric(height, errors="coerce"),
        decode_error=errors.astype("object").where(errors.notna(), None),
    )
    out["min_side"] = out[["decoded_width", "decoded_height"]].min(axis=1, skipna=False)
    out["aspect_ratio"] = out[["decoded_width", "decoded_height"]].max(axis=1, skipna=False) / out["min_side"]
    return out, slots, candidates


def _report(result: ValidateResult, quality: QualityResult, info: DatasetInfo, threshold: float) -> str:
    lines = [
        f"# Validation report: {info.name}",
        "",
        f"- rows: {result.rows} (clean {result.clean_rows}, rejected {result.rejected_rows}, "
        f"{result.bad_fraction:.2%}; threshold {threshold:.2%})",
        f"- images in the store: {result.images}",
        "",
        "## Expectations",
        "",
        "| expectation | column | success | failing rows |",
        "|---|---|---|---|",
    ]
    for item in quality.expectations:
        lines.append(
            f"| {item['expectation']} | {item['column']} | {item['success']} | {item['unexpected_count']} |"
        )
    lines += ["", "## Rejection reasons", "", "| reason | rows |", "|---|---|"]
    lines += [f"| {reason} | {count} |" for reason, count in result.reasons.items()] or ["| (none) | 0 |"]
    return "\n".join(lines) + "\n"


def run(params: Params, paths: ProjectPaths) -> ValidateResult:
    info = DatasetInfo.read(paths)
    root = info.root_path(paths)
    manifest = read_manifest(paths.manifest)
    frame = manifest.reset_index(drop=True)
    frame[ROW_KEY] = np.arange(len(frame), dtype=np.int64)
    frame["duplicate_of"] = _mark_duplicates(frame)

    with atomic_dir(paths.clean_dir) as staging:
        candidates_path = staging / "candidates.npy"
        frame, slots, candidates = _decode_facts(frame, root, params, candidates_path)
        quality = run_suite(frame, params.validation)

        bad = frame[ROW_KEY].isin(quality.reasons.index)
        rejected = frame[bad].join(quality.reasons, on=ROW_KEY)
        clean = frame[~bad].copy()
        # The store holds each clean image once, in first-seen order; rows point into it.
        store_paths = list(dict.fromkeys(clean["image_path"].tolist()))
        store_slot = {path: index for index, path in enumerate(store_paths)}
        clean["store_index"] = clean["image_path"].map(store_slot).astype("int64")

        reasons = dict(Counter(rejected["reason"]).most_common())
        result = ValidateResult(
            rows=len(frame),
            clean_rows=len(clean),
            rejected_rows=len(rejected),
            images=len(store_paths),
            reasons=reasons,
        )
        rejected_out = rejected.rename(columns={ROW_KEY: "row"})
        rejected_columns = [*COLUMNS, "row", "reason", "all_reasons"]
        rejected_out[rejected_columns].to_parquet(staging / paths.rejected.name, index=False)
        write_text(
            staging / paths.validation_report.name,
            _report(result, quality, info, params.validation.max_bad_fraction),
        )

        failed = result.bad_fraction > params.validation.max_bad_fraction or result.clean_rows == 0
        if not failed:
            write_manifest(clean, staging / paths.clean_manifest.name, extra_columns=("store_index",))
            write_store(
                staging / paths.image_store.name,
                (candidates[slots[path]] for path in store_paths),
                count=len(store_paths),
                size=params.data.image_size,
            )
        del candidates
        candidates_path.unlink()

    write_json(
        paths.metrics("validate"),
        {
            "rows": result.rows,
            "clean_rows": result.clean_rows,
            "rejected_rows": result.rejected_rows,
            "bad_fraction": round(result.bad_fraction, 6),
            "images": result.images,
            "reasons": reasons,
        },
    )
    for reason, count in list(reasons.items())[:10]:
        log.warning("rejected %d row(s): %s", count, reason)
    if failed:
        top = ", ".join(f"{count} {reason}" for reason, count in list(reasons.items())[:3])
        raise DataError(
            f"{paths.manifest}: {result.rejected_rows} of {result.rows} rows rejected "
            f"({result.bad_fraction:.1%} > max_bad_fraction {params.validation.max_bad_fraction:.1%}): {top}; "
            f"see {paths.rejected}"
        )
    log.info(
        "validated %d rows: %d clean, %d rejected, %d images stored",
        result.rows,
        result.clean_rows,
        result.rejected_rows,
        result.images,
    )
    return result
