"""What a request to the served model may ask for, checked before any work is done.

Every limit is a number here, and every refusal a one-line message the scoring server answers with a 400:
a caption within the validation's limit, whole-number seeds and counts (a seed of 1.5 is not seed 1; a
seed above 2**53 sent as a float cannot be exact), at most `MAX_IMAGES_PER_REQUEST` images however they
are spread over rows, and a finite, non-negative truncation.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

MAX_NUM_IMAGES = 16  # per row
MAX_IMAGES_PER_REQUEST = 256  # rows x num_images: about 1 s of generation at 64x64 on a CPU core
SEED_LIMIT = 2**63  # seeds are int64 (and so is the seed each image reports back)
EXACT_FLOAT_LIMIT = 2**53  # the largest whole number a float holds exactly


class BadRequest(ValueError):
    """A request the model refuses; the message says which row and why."""


@dataclass(frozen=True)
class ImageRequest:
    row: int
    caption: str
    seed: int


def whole_number(value: Any, what: str) -> int | None:
    """An integer input as given: None when absent; refused when it is not a whole number."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        raise BadRequest(f"{what} must be a whole number, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    number = float(value) if isinstance(value, (float, np.floating)) else math.nan
    if math.isfinite(number) and number.is_integer():
        if abs(number) >= EXACT_FLOAT_LIMIT:
            raise BadRequest(
                f"{what} {value!r} was sent as a float: above 2**53 it is not exact; send an integer"
            )
        return int(number)
    raise BadRequest(f"{what} must be a whole number, got {value!r}")


def _row_requests(index: int, row: pd.Series, max_caption_chars: int) -> list[ImageRequest]:
    caption = row.get("caption")
    if not isinstance(caption, str) or not caption.strip():
        raise BadRequest(f"row {index}: caption must be a non-empty string")
    if len(caption) > max_caption_chars:
        raise BadRequest(f"row {index}: caption has {len(caption)} characters (limit {max_caption_chars})")
    count = whole_number(row.get("num_images"), f"row {index}: num_images")
    count = 1 if count is None else count
    if not 1 <= count <= MAX_NUM_IMAGES:
        raise BadRequest(f"row {index}: num_images must be between 1 and {MAX_NUM_IMAGES}, got {count}")
    seed = whole_number(row.get("seed"), f"row {index}: seed")
    if seed is not None and not 0 <= seed <= SEED_LIMIT - count:
        raise BadRequest(
            f"row {index}: seed must be >= 0 and below 2**63 (with its {count} images), got {seed}"
        )
    base = seed if seed is not None else secrets.randbelow(2**31)
    return [ImageRequest(index, caption, base + k) for k in range(count)]


def parse_requests(frame: pd.DataFrame, max_caption_chars: int) -> list[ImageRequest]:
    """One `ImageRequest` per image asked for, in order; `BadRequest` for the first row that is wrong."""
    if "caption" not in frame.columns:
        raise BadRequest("missing required column 'caption'")
    if frame.empty:
        raise BadRequest("no rows: send at least one caption")
    counts = [
        whole_number(value, f"row {i}: num_images") or 1 for i, value in enumerate(_column(frame, "num_images"))
    ]
    if sum(counts) > MAX_IMAGES_PER_REQUEST:
        raise BadRequest(
            f"{sum(counts)} images asked for in {len(frame)} rows: at most {MAX_IMAGES_PER_REQUEST} images per "
            "request; split it"
        )
    requests: list[ImageRequest] = []
    for index, (_, row) in enumerate(frame.iterrows()):
        requests += _row_requests(index, row, max_caption_chars)
    return requests


def _column(frame: pd.DataFrame, name: str) -> list[Any]:
    return frame[name].tolist() if name in frame.columns else [None] * len(frame)


def parse_truncation(params: dict[str, Any] | None) -> float | None:
    """The request's truncation: None for off (absent or 0); refused unless finite and non-negative."""
    value = (params or {}).get("truncation")
    if value is None:
        return None
    try:
        truncation = float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"truncation must be a number, got {value!r}") from None
    if not math.isfinite(truncation) or truncation < 0:
        raise BadRequest(f"truncation must be a finite number >= 0 (0 = off), got {value!r}")
    return truncation or None
