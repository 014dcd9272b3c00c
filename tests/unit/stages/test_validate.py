"""Validate: every bad row quarantined with its reason, every good row kept, the store built once."""

from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from t2igan.config import Params
from t2igan.data.dataset import DatasetInfo
from t2igan.data.manifest import manifest_row, read_manifest, to_frame, with_file_facts, write_manifest
from t2igan.data.store import open_store
from t2igan.errors import DataError, StageInputError
from t2igan.paths import ProjectPaths
from t2igan.stages import embed, validate
from tests.support.markdown import table_after


def _data_docs(paths: ProjectPaths) -> Path:
    return paths.clean_dir / "data_docs" / "index.html"


def _shown(page: Path) -> str:
    """What a browser shows of a Data Docs page: the markup, scripts and styles gone, spaces collapsed."""
    markup = re.sub(r"<(script|style)\b.*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup)))


def _digests(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def _write_dataset(paths: ProjectPaths, rows: list[dict]) -> None:
    write_manifest(to_frame(rows), paths.manifest)
    DatasetInfo("custom", "test", ".", len(rows), len(rows)).write(paths.dataset_info)


def _bad_corpus(paths: ProjectPaths) -> tuple[list[dict], dict[str, str]]:
    """Good rows plus one row per bad case; returns rows and the expected reason per bad row id."""
    root = paths.ingest_dir
    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(root / f"img/good{i}.png")
    Image.new("RGB", (8, 8)).save(root / "img/tiny.png")
    Image.new("RGB", (200, 20)).save(root / "img/strip.png")
    (root / "img/empty.png").write_bytes(b"")
    (root / "img/text.png").write_text("hello")

    def row(row_id: str, caption: str, path: str, split: str = "train") -> dict:
        return manifest_row(
            row_id=row_id,
            image_id=path,
            split=split,
            caption=caption,
            image_path=path,
            source="test",
        )

    rows = [
        row(f"good{i}", f"a picture number {i}", f"img/good{i}.png", "test" if i >= 10 else "train")
        for i in range(12)
    ]
    rows.append(row("second-caption", "another caption of picture 0", "img/good0.png"))
    bad = {
        "missing": (row("missing", "fine caption", "img/nope.png"), "missing file"),
        "empty-file": (row("empty-file", "fine caption", "img/empty.png"), "empty file"),
        "not-image": (row("not-image", "fine caption", "img/text.png"), "not an image"),
        "tiny": (row("tiny", "fine caption", "img/tiny.png"), "image too small (8x8"),
        "strip": (row("strip", "fine caption", "img/strip.png"), "degenerate aspect ratio 10.0"),
        "blank": (row("blank", "   ", "img/good1.png"), "empty or whitespace caption"),
        "long": (row("long", "x" * 500, "img/good2.png"), "caption of 500 characters exceeds 400"),
        "escape": (row("escape", "fine caption", "../secret.png"), "escapes the dataset root"),
        "absolute": (row("absolute", "fine caption", "/etc/hosts"), "escapes the dataset root"),
        "dup": (row("dup", "a picture number 3", "img/good3.png"), "duplicate of row 3"),
        "split": (row("split", "fine caption", "img/good4.png", split="valid"), "unknown split 'valid'"),
    }
    rows += [r for r, _ in bad.values()]
    with_file_facts(rows, root, workers=1)
    return rows, {key: reason for key, (_, reason) in bad.items()}


def test_bad_rows_are_rejected_with_reasons_and_good_rows_kept(
    project: ProjectPaths, tiny_params: Params
) -> None:
    rows, expected = _bad_corpus(project)
    _write_dataset(project, rows)
    params = tiny_params.model_copy(
        update={"validation": tiny_params.validation.model_copy(update={"max_bad_fraction": 0.6})}
    )
    result = validate.run(params, project)

    rejected = pd.read_parquet(project.rejected).set_index("id")
    assert set(rejected.index) == set(expected)
    for row_id, reason in expected.items():
        assert reason in rejected.loc[row_id, "reason"], (row_id, rejected.loc[row_id, "reason"])
        assert "\n" not in rejected.loc[row_id, "reason"]
    clean = read_manifest(project.clean_manifest)
    assert set(clean["id"]) == {f"good{i}" for i in range(12)} | {"second-caption"}
    assert result.clean_rows == 13 and result.rejected_rows == len(expected)
    store = open_store(project.image_store)
    assert store.shape == (12, 16, 16, 3)
    both = pd.read_parquet(project.clean_manifest).set_index("id")
    assert both.loc["good0", "store_index"] == both.loc["second-caption", "store_index"]
    original = np.asarray(Image.open(project.ingest_dir / "img/good5.png").resize((16, 16), Image.LANCZOS))
    assert np.abs(store[both.loc["good5", "store_index"]].astype(int) - original).mean() < 2
    report = project.validation_report.read_text()
    assert {"reason": "missing file", "rows": "1"} in table_after(report, "## Rejection reasons")
    decoding = {"expectation": "expect_column_values_to_be_null", "column": "decode_error", "success": "False"}
    # missing, empty, not an image, and the two paths that escape the root (refused before opening)
    assert {**decoding, "failing rows": "5"} in table_after(report, "## Expectations")


def test_the_suite_s_results_are_data_docs_linked_from_the_report(
    project: ProjectPaths, tiny_params: Params
) -> None:
    rows, _ = _bad_corpus(project)
    _write_dataset(project, rows)
    params = tiny_params.model_copy(
        update={"validation": tiny_params.validation.model_copy(update={"max_bad_fraction": 0.6})}
    )
    validate.run(params, project)

    report = project.validation_report.read_text()
    links = re.findall(r"\[Data Docs\]\(([^)]+)\)", report)
    assert links == ["data_docs/index.html"]
    assert (project.validation_report.parent / links[0]).resolve() == _data_docs(project).resolve()
    index = _data_docs(project).read_text(encoding="utf-8")
    (page,) = set(re.findall(r"validations/t2igan_manifest/[^'\"]+\.html", index))
    shown = _shown(_data_docs(project).parent / page)
    expectations = table_after(report, "## Expectations")
    failed = [item for item in expectations if item["success"] == "False"]
    assert "Status: Failed" in shown and f"Evaluated Expectations {len(expectations)}" in shown
    assert f"Unsuccessful Expectations {len(failed)}" in shown
    # the decode errors: missing, empty, not an image and the two escaping paths, by manifest row
    rejected = pd.read_parquet(project.rejected).set_index("id")
    undecoded = sorted(
        int(rejected.loc[i, "row"]) for i in ("missing", "empty-file", "not-image", "escape", "absolute")
    )
    decoding = next(item for item in failed if item["column"] == "decode_error")
    assert decoding["failing rows"] == "5"
    assert f"df.filter(items={undecoded}, axis=0)" in shown

    # validate's output is one DVC directory that train and evaluate hash: the same data, the same bytes
    before = _digests(project.clean_dir)
    validate.run(params, project)
    assert _digests(project.clean_dir) == before


def test_too_many_bad_rows_fail_the_stage_but_keep_the_evidence(
    project: ProjectPaths, tiny_params: Params
) -> None:
    rows, expected = _bad_corpus(project)
    _write_dataset(project, rows)
    with pytest.raises(DataError) as excinfo:
        validate.run(tiny_params, project)  # default threshold 5%
    message = str(excinfo.value)
    assert f"{len(expected)} of {len(rows)} rows rejected" in message and "\n" not in message
    assert message.endswith(
        f"raise validation.max_bad_fraction in params.yaml or fix the rows listed in {project.rejected}"
    )
    assert len(pd.read_parquet(project.rejected)) == len(expected)
    assert "[Data Docs](data_docs/index.html)" in project.validation_report.read_text()
    assert _data_docs(project).is_file()
    assert not project.clean_manifest.exists() and not project.image_store.exists()
    # The next stage says what happened, not to run a stage that did run.
    with pytest.raises(
        StageInputError, match=r"validate rejected the dataset \(11 of 24 rows; see .*report\.md\)"
    ):
        embed.run(tiny_params, project)


def test_a_failed_validation_leaves_the_previous_outputs_intact(
    validated: ProjectPaths, tiny_params: Params
) -> None:
    project = validated
    before = project.clean_manifest.read_bytes()
    project.manifest.unlink()
    with pytest.raises(Exception, match="manifest not found"):
        validate.run(tiny_params, project)
    assert project.clean_manifest.read_bytes() == before


def test_a_dataset_without_test_images_is_refused_before_training(
    project: ProjectPaths, tiny_params: Params
) -> None:
    rows, _ = _bad_corpus(project)
    good = [{**row, "split": "train"} for row in rows if row["id"].startswith("good")]  # no test split
    _write_dataset(project, good)
    with pytest.raises(DataError) as excinfo:
        validate.run(tiny_params, project)
    assert str(excinfo.value) == (
        f"{project.clean_manifest}: 0 test images after validation, and evaluation needs at least 2: "
        "raise data.test_fraction in params.yaml or give the dataset a test split"
    )
    assert not project.clean_manifest.exists()
