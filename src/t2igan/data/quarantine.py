"""The validation verdict: clean rows (with their place in the image store) and rejected rows with reasons.

The store holds each clean image once, in first-seen order, and every clean row points into it
(`store_index`), so several captions of one image share its pixels.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from t2igan.data.dataset import DatasetInfo
from t2igan.data.images import MISSING_FILE
from t2igan.data.inspection import ROW_KEY
from t2igan.data.manifest import COLUMNS
from t2igan.data.quality import DATA_DOCS_INDEX, QualityResult
from t2igan.data.shards import MEMBER_SEPARATOR, SHARD_SOURCE
from t2igan.data.splits import TEST
from t2igan.markdown import table


@dataclass(frozen=True)
class Verdict:
    clean: pd.DataFrame  # good rows, with store_index
    rejected: pd.DataFrame  # bad rows, with row, reason, all_reasons
    store_paths: list[str]  # the store's images, in store order
    rows: int

    @property
    def reasons(self) -> dict[str, int]:
        """Rejected rows per reason, most common first."""
        return dict(Counter(self.rejected["reason"]).most_common())

    @property
    def bad_fraction(self) -> float:
        return len(self.rejected) / self.rows if self.rows else 1.0

    @property
    def test_images(self) -> int:
        return int(self.clean.loc[self.clean["split"] == TEST, "store_index"].nunique())

    @property
    def every_image_missing(self) -> bool:
        """Not one image found: the paths are relative to another folder than the one they were looked in."""
        return self.clean.empty and set(self.reasons) == {MISSING_FILE}

    def failed(self, max_bad_fraction: float) -> bool:
        return self.bad_fraction > max_bad_fraction or self.clean.empty


def sort_rows(frame: pd.DataFrame, quality: QualityResult) -> Verdict:
    bad = frame[ROW_KEY].isin(quality.reasons.index)
    rejected = frame[bad].join(quality.reasons, on=ROW_KEY).rename(columns={ROW_KEY: "row"})
    clean = frame[~bad].copy()
    store_paths = list(dict.fromkeys(clean["image_path"].tolist()))
    store_slot = {path: index for index, path in enumerate(store_paths)}
    clean["store_index"] = clean["image_path"].map(store_slot).astype("int64")
    return Verdict(clean, rejected, store_paths, len(frame))


def write_rejected(verdict: Verdict, path: Path) -> None:
    """The rejected rows with their reasons; a shard's sample also by `shard` and `key` (else null)."""
    rejected = verdict.rejected[[*COLUMNS, "row", "reason", "all_reasons"]].copy()
    from_shard = rejected["source"].eq(SHARD_SOURCE)
    shard = rejected["image_path"].map(
        lambda ref: ref.rpartition(MEMBER_SEPARATOR)[0] if isinstance(ref, str) else None
    )
    rejected["shard"] = shard.where(from_shard, None)
    rejected["key"] = rejected["image_id"].where(from_shard, None)
    rejected.to_parquet(path, index=False)


def report(verdict: Verdict, quality: QualityResult, info: DatasetInfo, threshold: float) -> str:
    """report.md: the counts, each expectation's outcome, and the rejection reasons.

    It links the suite's Data Docs (beside it in the clean data directory, so the link is relative and holds
    wherever the directory is checked out) for what a table cannot show: sample failing values per expectation.
    """
    lines = [
        f"# Validation report: {info.name}",
        "",
        f"- rows: {verdict.rows} (clean {len(verdict.clean)}, rejected {len(verdict.rejected)}, "
        f"{verdict.bad_fraction:.2%}; threshold {threshold:.2%})",
        f"- images in the store: {len(verdict.store_paths)}",
        f"- every expectation's result, with sample failing values: [Data Docs]({DATA_DOCS_INDEX})",
        "",
        "## Expectations",
        "",
    ]
    expectations = [
        {
            "expectation": str(item["expectation"]),
            "column": str(item["column"]),
            "success": str(item["success"]),
            "failing rows": str(item["unexpected_count"]),
        }
        for item in quality.expectations
    ]
    lines += table(expectations, ["expectation", "column", "success", "failing rows"])
    reasons = [{"reason": reason, "rows": str(count)} for reason, count in verdict.reasons.items()]
    lines += [
        "",
        "## Rejection reasons",
        "",
        *table(reasons or [{"reason": "(none)", "rows": "0"}], ["reason", "rows"]),
    ]
    return "\n".join(lines) + "\n"
