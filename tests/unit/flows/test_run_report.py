"""What a run leaves in Prefect, computed from the files the stages wrote: summary, metrics table, markdown."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.run_report import metrics_table, mlflow_ui_url, render_markdown, summarize
from t2igan.io import write_json
from t2igan.paths import ProjectPaths
from t2igan.tracking import RunRef
from tests.support.markdown import table_after

STAGES = [
    {"stage": "scan", "ran": True, "seconds": 1.5, "stage_seconds": 0.2},
    {"stage": "register", "ran": True, "seconds": 9.0, "stage_seconds": 6.1},
]


@pytest.fixture
def finished(tmp_path: Path) -> ProjectPaths:
    """A project as a run that registered version 2 (kept, against champion 1) leaves it."""
    paths = ProjectPaths.at(tmp_path)
    write_json(
        paths.metrics("eval"),
        {
            "fid_name": "fid_24",
            "fid_24": 120.0,
            "kid_name": "kid_24",
            "kid_24": 0.05,
            "kid_24_std": 0.001,
            "alignment": 0.5,
            "attr_acc_heldout": {"shape": 0.6},
            "fd_dinov2": 310.25,
            "clip_score_clip": 21.5,
        },
    )
    champion = {"fid_name": "fid_24", "fid_24": 100.0, "kid_24": 0.06, "alignment": 0.5}
    write_json(
        paths.metrics("register"),
        {
            "model_name": "t2igan",
            "version": "2",
            "promoted": False,
            "reason": "fid_24 120.000 does not beat",
            "champion_version": "1",
            "run_id": "abc",
            "compared_with": {"version": "1", "metrics": champion},
            "metrics": {"fid_name": "fid_24", "fid_24": 120.0, "kid_24": 0.05, "alignment": 0.5},
        },
    )
    paths.model_dir.mkdir(parents=True)
    RunRef("abc", "7", "sqlite:///x.db").write(paths.model_dir)
    return paths


def test_the_summary_reads_every_stage_s_record(finished: ProjectPaths) -> None:
    summary = summarize(finished.root, STAGES, {"train.steps": 3}, [], None)
    assert (summary["version"], summary["promoted"], summary["fid"], summary["kid"]) == (
        "2",
        False,
        120.0,
        0.05,
    )
    assert summary["registered_now"] is True and summary["overrides"] == {"train.steps": 3}
    assert summary["run_url"] == "http://127.0.0.1:5000/#/experiments/7/runs/abc"
    assert summary["model_url"] == "http://127.0.0.1:5000/#/models/t2igan/versions/2"


def test_the_metrics_table_judges_each_figure_in_its_own_direction(finished: ProjectPaths) -> None:
    rows = {row["metric"]: row for row in metrics_table(summarize(finished.root, STAGES))}
    assert rows["fid_24"]["better"] == "no" and rows["fid_24"]["champion 1"] == 100.0  # higher FID: worse
    assert rows["kid_24"]["better"] == "yes"  # lower KID: better
    assert rows["alignment"]["better"] == "-"  # the same value
    assert "fid_name" not in rows  # labels are not figures


def test_the_markdown_summary_says_the_decision_and_times_each_stage(finished: ProjectPaths) -> None:
    text = render_markdown(summarize(finished.root, STAGES, {"train.steps": 3}))
    assert "- decision: kept as @challenger (fid_24 120.000 does not beat); champion is version 1" in text
    assert "- fid_24: 120.000" in text and "`train.steps=3`" in text
    assert "- beyond Inception: clip_score_clip 21.500, fd_dinov2 310.250" in text  # evaluate.feature_networks
    assert table_after(text, "sample grid:")[1] == {
        "stage": "register",
        "ran": "True",
        "task seconds": "9.0",
        "stage seconds": "6.1",
    }


def test_links_point_at_the_tracking_server_or_the_local_ui(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = ProjectPaths.at(tmp_path)
    assert mlflow_ui_url(paths) == "http://127.0.0.1:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000/")
    assert mlflow_ui_url(paths) == "http://mlflow.internal:5000"
    assert mlflow_ui_url(paths, override="https://ui.example/") == "https://ui.example"


def test_the_report_shows_people_s_feedback_and_the_human_gate(finished: ProjectPaths) -> None:
    from t2igan.feedback.summary import summary_lines

    votes = {
        "model": "t2igan",
        "since": "2026-12-01T03:00:00+00:00",
        "votes": 12,
        "pairs": [
            {"version": "2", "other": "1", "wins": 8, "losses": 3, "both_bad": 1, "decided": 11, "rate": 8 / 11}
            | {"low": 0.48, "high": 0.88, "confidence": 0.9}
        ],
        "thumbs": [{"version": "2", "up": 4, "down": 1}],
        "hard_prompts": 3,
    }
    gate = {"version": "2", "promoted": False, "reason": "waiting for votes: 11 of 30 decided comparisons"}
    feedback = {"gate": gate, "summary": votes, "lines": summary_lines(votes)}
    text = render_markdown(summarize(finished.root, STAGES, feedback=feedback))
    section = text[text.index("## People's feedback") :]
    assert "12 votes since 2026-12-01T03:00:00+00:00; 3 hard prompts in all." in section
    assert (
        "- version 2 vs 1: preferred in 8 of 11 (win rate 0.73, 90% interval [0.48, 0.88]), 1 both bad"
        in section
    )
    assert "- version 2: 4 thumbs up, 1 down" in section
    assert "- human gate: version 2 not promoted: waiting for votes: 11 of 30" in section
    assert "People's feedback" not in render_markdown(summarize(finished.root, STAGES))


def test_the_report_links_the_validation_s_data_docs_where_validate_wrote_them(finished: ProjectPaths) -> None:
    assert summarize(finished.root, STAGES)["data_docs"] is None
    assert "Data Docs" not in render_markdown(summarize(finished.root, STAGES))
    index = finished.clean_dir / "data_docs" / "index.html"
    index.parent.mkdir(parents=True)
    index.write_text("<html></html>")
    text = render_markdown(summarize(finished.root, STAGES))
    assert f"[Data Docs]({index.resolve().as_uri()})" in text
