"""WebDataset shards (img2dataset's layout): `KEY.jpg|png|webp` the image, `KEY.txt` the caption, `KEY.json`
metadata (its `caption` when there is no .txt, its `split` when it has one, else the hash split of the key).

One task per shard (t2igan.data.tasks): each reads its shard once and returns its rows, with the image's
sha256 and header size computed from the member's bytes; the rows are concatenated in shard order, so the
manifest does not depend on how many workers read it. What is wrong with a sample is its row's `problem`,
named by shard and key, for validate to quarantine.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from typing import Any

from PIL import Image

from t2igan.config import DataParams
from t2igan.data.importers.base import Imported
from t2igan.data.manifest import manifest_row
from t2igan.data.shards import SHARD_SOURCE as SOURCE
from t2igan.data.shards import Sample, ShardSet, locate, member_ref, read_samples
from t2igan.data.splits import hash_split, normalize_split
from t2igan.data.tasks import run_tasks

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")  # the image members img2dataset writes, in preference order


def _header_size(data: bytes) -> tuple[int | None, int | None]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:  # validate decodes for real and gives the reason
        return None, None


def _metadata(sample: Sample) -> tuple[dict[str, Any], str | None]:
    raw = sample.members.get("json")
    if raw is None:
        return {}, None
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, f"metadata is not valid JSON ({type(exc).__name__})"
    return (record, None) if isinstance(record, dict) else ({}, "metadata is not a JSON object")


def _caption(sample: Sample, metadata: dict[str, Any]) -> tuple[str | None, str | None]:
    if "txt" in sample.members:
        try:
            return sample.members["txt"].decode("utf-8").strip(), None
        except UnicodeDecodeError:
            return None, "caption is not valid UTF-8"
    caption = metadata.get("caption")
    if caption is None:
        return None, "no caption (no .txt member, no 'caption' in .json)"
    return (caption, None) if isinstance(caption, str) else (None, "caption in .json is not text")


def _row(sample: Sample, test_fraction: float) -> dict[str, Any]:
    metadata, problem = _metadata(sample)
    caption, caption_problem = _caption(sample, metadata)
    image = next((ext for ext in IMAGE_EXTENSIONS if ext in sample.members), None)
    problem = sample.problem or problem or caption_problem
    if image is None and problem is None:
        problem = f"no image member ({', '.join(IMAGE_EXTENSIONS)})"
    split = metadata.get("split")
    row = manifest_row(
        row_id=f"{SOURCE}-{sample.key}",
        image_id=sample.key,
        split=normalize_split(split) if split else hash_split(sample.key, test_fraction),
        caption=caption,
        # a sample without an image is still named by its shard (rejected.parquet's `shard` column)
        image_path=member_ref(sample.shard, f"{sample.key}.{image}" if image else sample.key),
        source=SOURCE,
        problem=f"{sample.where()}: {problem}" if problem else None,
    )
    if image is not None and sample.problem is None:
        data = sample.members[image]
        row["sha256"] = hashlib.sha256(data).hexdigest()
        row["width"], row["height"] = _header_size(data)
    return row


def read_shard(shards: ShardSet, test_fraction: float, shard: str) -> list[dict[str, Any]]:
    """Every sample of one shard as a manifest row (one task)."""
    return [_row(sample, test_fraction) for sample in read_samples(shards, shard)]


def read(params: DataParams) -> Imported:
    shards = locate(params.path or "")
    task = functools.partial(read_shard, shards, params.test_fraction)
    per_shard = run_tasks(task, shards.names, workers=params.workers, stage="ingest", phase="read-shards")
    rows = [row for rows in per_shard for row in rows]
    return Imported(rows, shards.root, {"shards": len(shards.names)})
