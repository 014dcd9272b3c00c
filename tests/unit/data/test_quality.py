"""The suite's per-row reasons, and the Data Docs of its checkpoint: its results, the same bytes each run."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd

from t2igan.config import Params
from t2igan.data.inspection import ROW_KEY
from t2igan.data.quality import SUITE_NAME, run_suite

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _decoded_frame() -> pd.DataFrame:
    """Six rows as validate hands them to the suite; rows 1, 3 and 4 are bad, row 4 twice over."""
    n = 6
    return pd.DataFrame(
        {
            ROW_KEY: np.arange(n, dtype=np.int64),
            "problem": [None] * n,
            "split": ["train", "train", "test", "valid", "train", "test"],
            "caption": ["a red circle", "   ", "a blue square", "a green ring", "x" * 500, "a dot"],
            "image_path": [f"img/{i}.png" for i in range(n)],
            "duplicate_of": pd.Series([None] * n, dtype="object"),
            "decode_error": [None] * n,
            "decoded_width": [64.0, 64.0, 64.0, 64.0, 8.0, 64.0],
            "decoded_height": [64.0, 64.0, 64.0, 64.0, 8.0, 64.0],
            "min_side": [64.0, 64.0, 64.0, 64.0, 8.0, 64.0],
            "aspect_ratio": [1.0] * n,
        }
    )


def _text(page: Path) -> str:
    """What a browser shows of a Data Docs page: the markup, scripts and styles gone, spaces collapsed."""
    markup = re.sub(r"<(script|style)\b.*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup)))


def _site(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()
    }


def test_the_checkpoint_writes_data_docs_and_the_reasons_stay_per_row(
    tmp_path: Path, tiny_params: Params
) -> None:
    docs = tmp_path / "data_docs"
    quality = run_suite(_decoded_frame(), tiny_params.validation, docs)

    assert quality.reasons.to_dict("index") == {
        1: {"reason": "empty or whitespace caption", "all_reasons": "empty or whitespace caption"},
        3: {"reason": "unknown split 'valid'", "all_reasons": "unknown split 'valid'"},
        4: {
            "reason": "caption of 500 characters exceeds 400",
            "all_reasons": "caption of 500 characters exceeds 400; image too small (8x8, minimum side 16)",
        },
    }
    failed = [item for item in quality.expectations if not item["success"]]
    assert [(item["column"], item["unexpected_count"]) for item in failed] == [
        ("split", 1),
        ("caption", 1),
        ("caption", 1),
        ("min_side", 1),
    ]
    index = (docs / "index.html").read_text(encoding="utf-8")
    pages = sorted(set(re.findall(rf"validations/{SUITE_NAME}/[^'\"]+\.html", index)))
    assert len(pages) == 1 and "Failed" in index
    results = _text(docs / pages[0])
    assert f"Expectation Suite: {SUITE_NAME}" in results and "Status: Failed" in results
    assert "Evaluated Expectations 11" in results
    assert f"Unsuccessful Expectations {len(failed)}" in results
    # each failing expectation's rows, by their row key: the blank caption (1), the long one (4)
    assert "df.filter(items=[1], axis=0)" in results and "df.filter(items=[4], axis=0)" in results
    assert f"{SUITE_NAME}.html" in index and (docs / "expectations" / f"{SUITE_NAME}.html").is_file()


def test_the_data_docs_are_the_same_bytes_for_the_same_data(tmp_path: Path, tiny_params: Params) -> None:
    # They live in validate's DVC output, which train and evaluate depend on: a page that changed with the
    # clock or a random id would rerun training after every validate run, the data unchanged.
    first, second = tmp_path / "first", tmp_path / "second"
    run_suite(_decoded_frame(), tiny_params.validation, first)
    run_suite(_decoded_frame(), tiny_params.validation, second)

    assert _site(first) == _site(second)
    pages = [path.read_text(encoding="utf-8") for path in first.rglob("*.html")]
    assert len(pages) == 3  # the index, the suite, the one validation
    assert not [page for page in pages if UUID.search(page) or "?d=" in page or "ge_load_time" in page]
