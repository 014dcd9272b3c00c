"""Decoded-image facts for every manifest row, and duplicate rows: what the validation suite judges.

Each distinct image path is decoded once, safely (t2igan.data.images), in independent tasks (chunks of files,
or one shard each: local processes or a Dask cluster, t2igan.data.tasks), and its center-cropped, resized pixels
are kept in a memory-mapped candidates file, so the clean ones can go into the image store without decoding
twice.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from t2igan.config import ValidationParams
from t2igan.data.images import MISSING_FILE, BadImage, center_crop_resize, confine, decode, decode_bytes
from t2igan.data.shards import MEMBER_SEPARATOR, ShardSet, read_samples, split_ref
from t2igan.data.tasks import iter_tasks, task_chunks

ROW_KEY = "_row"  # each row's position in the manifest, the key the suite reports failing rows by


def number_rows(manifest: pd.DataFrame) -> pd.DataFrame:
    """The manifest with its row numbers and, for repeated rows, the row each repeats."""
    frame = manifest.reset_index(drop=True)
    frame[ROW_KEY] = np.arange(len(frame), dtype=np.int64)
    frame["duplicate_of"] = _duplicates(frame)
    return frame


def _duplicates(frame: pd.DataFrame) -> pd.Series:
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


@dataclass(frozen=True)
class _Decoded:
    width: int | None
    height: int | None
    error: str | None


@dataclass(frozen=True)
class DecodedImages:
    frame: pd.DataFrame  # the rows with decode_error, decoded_width/height, min_side, aspect_ratio
    slots: dict[str, int]  # image path -> its row in `pixels`
    pixels: np.ndarray  # memory-mapped uint8 [paths, size, size, 3]

    def images(self, image_paths: list[str]) -> Iterator[np.ndarray]:
        return (self.pixels[self.slots[path]] for path in image_paths)


@dataclass(frozen=True)
class _Task:
    """One unit of decoding: a chunk of files under `root`, or the wanted members of one shard."""

    paths: tuple[str, ...]
    root: Path | None = None
    shards: ShardSet | None = None
    shard: str | None = None


@dataclass(frozen=True)
class _TaskResult:
    facts: list[_Decoded]  # per path of the task
    pixels: np.ndarray  # [decoded paths, size, size, 3], in the task's order, for paths without an error


def _decode_task(max_pixels: int, size: int, task: _Task) -> _TaskResult:
    facts, pixels = [], []
    for image in _task_images(task, max_pixels):
        if isinstance(image, BadImage):
            facts.append(_Decoded(None, None, str(image)))
            continue
        facts.append(_Decoded(*image.size, None))
        pixels.append(center_crop_resize(image, size))
    stacked = np.stack(pixels) if pixels else np.zeros((0, size, size, 3), np.uint8)
    return _TaskResult(facts, stacked)


def _task_images(task: _Task, max_pixels: int) -> Iterator[Image.Image | BadImage]:
    """The task's images in its order, each decoded or the reason it cannot be."""
    if task.shards is None or task.shard is None:
        assert task.root is not None
        for relative in task.paths:
            try:
                yield decode(confine(task.root, relative), max_pixels)
            except BadImage as exc:
                yield exc
        return
    wanted = {split_ref(path)[1]: path for path in task.paths}
    found: dict[str, Image.Image | BadImage] = {}
    for sample in read_samples(task.shards, task.shard):
        for extension, data in sample.members.items():
            ref = wanted.get(f"{sample.key}.{extension}")
            if ref is not None and ref not in found:
                found[ref] = _decoded_member(data, max_pixels)
    for path in task.paths:
        yield found.get(path, BadImage(MISSING_FILE))


def _decoded_member(data: bytes, max_pixels: int) -> Image.Image | BadImage:
    try:
        return decode_bytes(data, max_pixels)
    except BadImage as exc:
        return exc


def _tasks(paths: list[str], root: Path | str) -> list[_Task]:
    """Files in chunks (t2igan.data.tasks.task_chunks); a shard's members one task, shards in order of first
    appearance."""
    if not paths or MEMBER_SEPARATOR not in paths[0]:
        return [_Task(tuple(chunk), root=Path(root)) for chunk in task_chunks(paths)]
    by_shard: dict[str, list[str]] = {}
    for path in paths:
        by_shard.setdefault(split_ref(path)[0], []).append(path)
    shards = ShardSet(str(root), tuple(by_shard))
    return [_Task(tuple(members), shards=shards, shard=shard) for shard, members in by_shard.items()]


def _with_facts(frame: pd.DataFrame, facts: dict[str, _Decoded]) -> pd.DataFrame:
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
    return out


@contextlib.contextmanager
def decoded_images(
    frame: pd.DataFrame,
    root: Path | str,
    params: ValidationParams,
    size: int,
    scratch: Path,
    workers: int | None = None,
) -> Iterator[DecodedImages]:
    """Every distinct image of `frame` decoded into `scratch` (removed when the block ends).

    Files under `root` in chunks, shard members (`SHARD#MEMBER`, `root` the shards' directory or URL) a shard
    at a time: independent tasks (t2igan.data.tasks) whose results are written here in path order.
    """
    paths = [p for p in dict.fromkeys(frame["image_path"].tolist()) if isinstance(p, str)]
    pixels = np.lib.format.open_memmap(
        scratch, mode="w+", dtype=np.uint8, shape=(max(len(paths), 1), size, size, 3)
    )
    try:
        tasks = _tasks(paths, root)
        task = functools.partial(_decode_task, params.max_pixels, size)
        results = iter_tasks(
            task, tasks, workers=workers, stage="validate", phase="decode-images", total=len(tasks)
        )
        facts: dict[str, _Decoded] = {}
        slots: dict[str, int] = {}
        for unit, result in zip(tasks, results, strict=True):  # written as each task's result arrives
            decoded = iter(result.pixels)
            for path, fact in zip(unit.paths, result.facts, strict=True):
                facts[path] = fact
                if fact.error is None:
                    slots[path] = len(slots)
                    pixels[slots[path]] = next(decoded)
        yield DecodedImages(_with_facts(frame, facts), slots, pixels)
    finally:
        scratch.unlink(missing_ok=True)  # the mapping stays valid until its last reference goes
