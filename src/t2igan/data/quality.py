"""The great-expectations suite that decides which manifest rows are usable.

It runs on the manifest joined with decoded-image facts (decode error, decoded size, aspect ratio), so one
suite covers both text and pixels. Every expectation carries the one-line reason given to the rows it fails;
a row's reason is its first failing expectation, in suite order, and `all_reasons` lists the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from t2igan.config import ValidationParams
from t2igan.data.inspection import ROW_KEY
from t2igan.data.splits import SPLITS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    """One expectation and how to word its failure for a given row."""

    expectation: Any  # a great-expectations Expectation
    reason: Callable[[pd.Series], str]


def build_checks(params: ValidationParams) -> list[Check]:
    import great_expectations as gx

    e = gx.expectations
    return [
        Check(e.ExpectColumnValuesToBeNull(column="problem"), lambda r: str(r["problem"])),
        Check(
            e.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS)),
            lambda r: f"unknown split {r['split']!r}",
        ),
        Check(e.ExpectColumnValuesToNotBeNull(column="caption"), lambda _row: "missing caption"),
        Check(
            e.ExpectColumnValuesToNotMatchRegex(column="caption", regex=r"^\s*$"),
            lambda _row: "empty or whitespace caption",
        ),
        Check(
            e.ExpectColumnValueLengthsToBeBetween(
                column="caption", min_value=1, max_value=params.max_caption_chars
            ),
            lambda r: f"caption of {len(r['caption'])} characters exceeds {params.max_caption_chars}",
        ),
        Check(e.ExpectColumnValuesToNotBeNull(column="image_path"), lambda _row: "missing image path"),
        Check(
            e.ExpectColumnValuesToNotMatchRegex(
                column="image_path", regex=r"^(?:/|[A-Za-z]:[\\/])|(?:^|[\\/])\.\.(?:[\\/]|$)"
            ),
            lambda r: f"image path {r['image_path']!r} escapes the dataset root",
        ),
        Check(
            e.ExpectColumnValuesToBeNull(column="duplicate_of"),
            lambda r: f"duplicate of row {r['duplicate_of']}",
        ),
        Check(e.ExpectColumnValuesToBeNull(column="decode_error"), lambda r: str(r["decode_error"])),
        Check(
            e.ExpectColumnValuesToBeBetween(column="min_side", min_value=params.min_side),
            lambda r: (
                f"image too small ({int(r['decoded_width'])}x{int(r['decoded_height'])}, "
                f"minimum side {params.min_side})"
            ),
        ),
        Check(
            e.ExpectColumnValuesToBeBetween(column="aspect_ratio", max_value=params.max_aspect_ratio),
            lambda r: f"degenerate aspect ratio {r['aspect_ratio']:.1f} (max {params.max_aspect_ratio})",
        ),
    ]


@dataclass(frozen=True)
class QualityResult:
    reasons: pd.DataFrame  # index: row key; columns: reason, all_reasons (only failing rows)
    expectations: list[dict[str, object]]  # per expectation: type, column, success, unexpected_count


def run_suite(frame: pd.DataFrame, params: ValidationParams) -> QualityResult:
    """Validate `frame` (which must carry a unique `_row` column) and collect per-row reasons."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("manifest")
    batch = (
        source.add_dataframe_asset("rows")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    checks = build_checks(params)
    suite = gx.ExpectationSuite(name="t2igan_manifest")
    for check in checks:
        suite.add_expectation(check.expectation)
    suite = context.suites.add(suite)
    result = batch.validate(
        suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [ROW_KEY]}
    )
    by_row = frame.set_index(ROW_KEY, drop=False)
    failures: dict[int, list[str]] = {}
    summary: list[dict[str, object]] = []
    for check, outcome in zip(checks, result.results, strict=True):
        unexpected = outcome.result.get("unexpected_index_list") or []
        rows = [int(item[ROW_KEY]) for item in unexpected]
        config = outcome.expectation_config or check.expectation.configuration
        summary.append(
            {
                "expectation": config.type,
                "column": config.kwargs.get("column"),
                "success": bool(outcome.success),
                "unexpected_count": len(rows),
            }
        )
        for row in rows:
            failures.setdefault(row, []).append(check.reason(by_row.loc[row]))
    reasons = pd.DataFrame(
        {
            "reason": {row: found[0] for row, found in failures.items()},
            "all_reasons": {row: "; ".join(dict.fromkeys(found)) for row, found in failures.items()},
        },
        columns=["reason", "all_reasons"],
    )
    return QualityResult(reasons=reasons, expectations=summary)
