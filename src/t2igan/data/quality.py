"""The great-expectations suite that decides which manifest rows are usable, and its Data Docs.

It runs on the manifest joined with decoded-image facts (decode error, decoded size, aspect ratio), so one
suite covers both text and pixels. Every expectation carries the one-line reason given to the rows it fails;
a row's reason is its first failing expectation, in suite order, and `all_reasons` lists the rest.

The suite runs the way GX 1.x documents it: a ValidationDefinition (the manifest batch against the suite) in a
Checkpoint whose UpdateDataDocsAction renders the results as Data Docs, a static site written under the clean
data (`data/clean/data_docs/index.html`) so that a person can see every expectation's outcome and sample
failing values in a browser. The context is ephemeral (nothing of GX's own is kept between runs, no
`gx/` project folder): the site lives inside validate's DVC output, so each version of `data/clean` carries
the docs of the data it holds, and a run's history is DVC's (dvc.lock in git, the cache, the remote).

Because that output is hashed, and train and evaluate depend on it, the site must be a function of the data:
GX stamps pages with random element ids, the batch's load time, the run's time, and the time they were
rendered (in the URL of its logo, on its S3 bucket: a page view it can count). Here the run has a fixed name
and time (the epoch: when it ran is in dvc.lock's history, MLflow and Prefect, not in the data), and the page
views and the validation page's renderer, which GX loads by name from t2igan.data.data_docs, number the
element ids, drop the load time and leave the logo's URL bare. Rendering reads and sends nothing over the
network; analytics are off in the context's config, whatever the environment says (GX_ANALYTICS_ENABLED=false
is set too). A browser showing the pages still loads GX's stylesheets and scripts from public CDNs, as every GX
site does; without them the pages are plain but complete.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from t2igan.config import ValidationParams
from t2igan.data.inspection import ROW_KEY
from t2igan.data.splits import SPLITS

if TYPE_CHECKING:
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
    from great_expectations.data_context import AbstractDataContext

log = logging.getLogger(__name__)

SUITE_NAME = "t2igan_manifest"
DATA_DOCS_DIR = "data_docs"  # the Data Docs site, in the clean data directory beside report.md
DATA_DOCS_INDEX = f"{DATA_DOCS_DIR}/index.html"  # its home page, relative to the clean data directory
RUN_NAME = "validate"
DOCS_VIEWS_MODULE = "t2igan.data.data_docs"  # GX imports it when it renders the site
# Not a time: the docs sit in a hashed DVC output, so they must not change when nothing else did (see above).
RUN_TIME = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


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


def run_suite(frame: pd.DataFrame, params: ValidationParams, docs_dir: Path) -> QualityResult:
    """Validate `frame` (which must carry a unique `_row` column), collect per-row reasons, and write the
    Data Docs site into `docs_dir` (its home page is `docs_dir/index.html`)."""
    import great_expectations as gx

    context = _context(docs_dir)
    batch = (
        context.data_sources.add_pandas("manifest")
        .add_dataframe_asset("rows")
        .add_batch_definition_whole_dataframe("all")
    )
    checks = build_checks(params)
    suite = gx.ExpectationSuite(name=SUITE_NAME)
    for check in checks:
        suite.add_expectation(check.expectation)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="manifest", data=batch, suite=context.suites.add(suite))
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=RUN_NAME,
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [ROW_KEY]},
        )
    )
    from great_expectations.core.run_identifier import RunIdentifier

    run = checkpoint.run(
        batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=RUN_NAME, run_time=RUN_TIME)
    )
    (result,) = run.run_results.values()
    return _collect(frame, checks, result)


def _collect(
    frame: pd.DataFrame, checks: list[Check], result: ExpectationSuiteValidationResult
) -> QualityResult:
    """Each failing row's reasons, in suite order, and each expectation's outcome for the report."""
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


def _context(docs_dir: Path) -> AbstractDataContext:
    """An in-memory GX context, analytics off, whose one Data Docs site is a folder at `docs_dir`, rendered
    by t2igan.data.data_docs's views (GX loads them by module and class name)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    def ours(name: str) -> dict[str, str]:
        return {"module_name": DOCS_VIEWS_MODULE, "class_name": name}

    site = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,  # GX's tutorial buttons, which link to its website
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "view": ours("IndexView")},
        "site_section_builders": {
            "expectations": {"view": ours("PageView")},
            "validations": {"renderer": ours("ValidationPage"), "view": ours("PageView")},
            "profiling": "None",  # no profiler runs here (GX reads the YAML word, not Python None)
        },
    }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={"local": site},
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")
