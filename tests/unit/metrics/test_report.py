"""The evaluation report: this model beside the champion, with verdicts in each figure's own direction."""

from __future__ import annotations

from t2igan.metrics.report import ChampionFigures, ReportInputs, flatten, render
from tests.support.markdown import table_after

METRICS = {
    "fid_name": "fid_24",
    "fid_24": 120.0,
    "kid_name": "kid_24",
    "kid_24": 0.05,
    "kid_24_std": 0.001,
    "alignment": 0.5,
    "attr_acc_heldout": {"color": 0.6, "mean": 0.5},
    "memorization_ratio": 1.1,
    "real_features_cached": True,
    "inception": "default_1.pt:sha256=abc:tf1-bilinear-299",
}


def test_flatten_keeps_numbers_as_mlflow_stores_them() -> None:
    flat = flatten(METRICS)
    assert flat["attr_acc_heldout/color"] == 0.6 and flat["fid_24"] == 120.0
    assert "real_features_cached" not in flat and "inception" not in flat and "fid_name" not in flat


def test_figures_are_set_beside_the_champion_s_with_the_right_verdicts() -> None:
    champion = ChampionFigures("3", "run-3", {"fid_24": 150.0, "alignment": 0.5, "attr_acc_heldout/color": 0.7})
    report = render(ReportInputs(METRICS, ["a red circle"], champion=champion))
    rows = {row["figure"]: row for row in table_after(report, "# Evaluation")}
    assert rows["fid_24"]["champion (version 3)"] == "150.0000"
    assert rows["fid_24"]["change"] == "-30.0000 (better)"  # lower FID is better
    assert rows["attr_acc_heldout/color"]["change"] == "-0.1000 (worse)"  # lower accuracy is worse
    assert rows["alignment"]["change"] == "+0.0000 (same)"
    assert rows["kid_24"]["champion (version 3)"] == "not measured"
    assert list(rows) == [
        "fid_24",
        "kid_24",
        "alignment",
        "attr_acc_heldout/color",
        "attr_acc_heldout/mean",
        "memorization_ratio",
    ]
    assert "1. a red circle" in report and "Inception: `default_1.pt:sha256=abc:tf1-bilinear-299`" in report


def test_without_a_champion_the_report_says_so_and_lists_the_figures() -> None:
    report = render(ReportInputs(METRICS, []))
    assert "No champion in the registry yet" in report
    assert {"figure": "fid_24", "this model": "120.0000"} in table_after(report, "compared with nothing.")


def test_confusion_and_memorization_sections() -> None:
    confusion = {"color": {"values": ["red", "blue"], "counts": [[3, 1], [0, 4]]}}
    inputs = ReportInputs(
        METRICS, ["a", "b"], confusion=confusion, nearest_distances=[12.5], nearest_captions=["a"]
    )
    report = render(inputs)
    assert table_after(report, "### color") == [
        {"asked \\ drawn": "**red**", "red": "3", "blue": "1"},
        {"asked \\ drawn": "**blue**", "red": "0", "blue": "4"},
    ]
    assert table_after(report, "## Memorization check") == [
        {"sample": "1", "caption": "a", "RMS distance (0-255)": "12.5"}
    ]
    assert "1.100 (well below 1 would mean copying)" in report
