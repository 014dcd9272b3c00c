"""What the served model accepts: whole-number seeds and counts, a total cap, a finite truncation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from t2igan.registry.requests import (
    MAX_IMAGES_PER_REQUEST,
    BadRequest,
    parse_requests,
    parse_truncation,
    whole_number,
)


def test_whole_numbers_are_taken_exactly_and_anything_else_is_refused() -> None:
    assert whole_number(2**53 + 1, "seed") == 2**53 + 1  # an int stays exact
    assert whole_number(np.int64(7), "seed") == 7 and whole_number(3.0, "seed") == 3
    assert whole_number(None, "seed") is None and whole_number(float("nan"), "seed") is None
    for bad in (1.5, True, "3", float("inf")):
        with pytest.raises(BadRequest, match="seed must be a whole number"):
            whole_number(bad, "seed")
    with pytest.raises(BadRequest, match=r"sent as a float: above 2\*\*53"):
        whole_number(float(2**60), "seed")


def test_each_row_s_images_get_consecutive_seeds_and_the_total_is_capped() -> None:
    frame = pd.DataFrame({"caption": ["a", "b"], "seed": [10, 2**62], "num_images": [2, 1]})
    assert [(r.row, r.caption, r.seed) for r in parse_requests(frame, 400)] == [
        (0, "a", 10),
        (0, "a", 11),
        (1, "b", 2**62),
    ]
    many = pd.DataFrame({"caption": ["a"] * 20, "num_images": [16] * 20})
    with pytest.raises(BadRequest, match=rf"320 images asked for in 20 rows: at most {MAX_IMAGES_PER_REQUEST}"):
        parse_requests(many, 400)
    near_the_top = pd.DataFrame({"caption": ["a"], "seed": [2**63 - 1], "num_images": [2]})
    with pytest.raises(BadRequest, match=r"row 0: seed must be >= 0 and below 2\*\*63"):
        parse_requests(near_the_top, 400)
    with pytest.raises(BadRequest, match=r"row 0: caption has 11 characters \(limit 10\)"):
        parse_requests(pd.DataFrame({"caption": ["x" * 11]}), 10)


def test_truncation_must_be_finite_and_not_negative() -> None:
    assert parse_truncation(None) is None and parse_truncation({"truncation": 0.0}) is None
    assert parse_truncation({"truncation": 0.7}) == 0.7
    for bad in (-1.0, float("nan"), float("inf"), "x"):
        with pytest.raises(BadRequest, match="truncation must be"):
            parse_truncation({"truncation": bad})
