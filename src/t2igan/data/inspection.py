"""Decoded-image facts for every manifest row, and duplicate rows: what the validation suite judges.

Each distinct image path is decoded once (threads: Pillow releases the GIL while decoding), safely
(t2igan.data.images), and its center-cropped, resized pixels are kept in a memory-mapped candidates file, so
the clean ones can go into the image store without decoding twice.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from t2igan.config import ValidationParams
from t2igan.data.images import BadImage, center_crop_resize, confine, decode
from t2igan.progress import tracked

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


def _decode_into(root: Path, relative: str, max_pixels: int, size: int, slot: int, out: np.ndarray) -> _Decoded:
    try:
        image = decode(confine(root, relative), max_pixels)
    except BadImage as exc:
        return _Decoded(None, None, str(exc))
    width, height = image.size
    out[slot] = center_crop_resize(image, size)
    return _Decoded(width, height, None)


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
    frame: pd.DataFrame, root: Path, params: ValidationParams, size: int, scratch: Path
) -> Iterator[DecodedImages]:
    """Every distinct image of `frame` decoded into `scratch` (removed when the block ends)."""
    paths = [p for p in dict.fromkeys(frame["image_path"].tolist()) if isinstance(p, str)]
    slots = {path: slot for slot, path in enumerate(paths)}
    pixels = np.lib.format.open_memmap(
        scratch, mode="w+", dtype=np.uint8, shape=(max(len(paths), 1), size, size, 3)
    )
    try:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            work = pool.map(
                lambda item: _decode_into(root, item[0], params.max_pixels, size, item[1], pixels),
                slots.items(),
            )
            decoded = list(tracked(work, "validate", "decode-images", len(slots), unit="img"))
        yield DecodedImages(_with_facts(frame, dict(zip(paths, decoded, strict=True))), slots, pixels)
    finally:
        scratch.unlink(missing_ok=True)  # the mapping stays valid until its last reference goes
