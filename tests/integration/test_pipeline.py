"""A real-photo dataset through every stage: no attributes to judge, so alignment is R-precision."""

from __future__ import annotations

from pathlib import Path

import pytest

from t2igan.config import parse_params
from tests.support.datasets import CAPTIONS, photo_project, photo_suffix, save_photo
from tests.support.project import reset_mlflow, run_stages


@pytest.mark.slow
def test_an_imported_dataset_goes_through_the_whole_pipeline(tmp_path: Path) -> None:
    data = tmp_path / "photos"
    lines = []
    for i in range(40):
        name = list(CAPTIONS)[i % len(CAPTIONS)]
        if i < len(CAPTIONS):
            save_photo(name, data / f"{name}{photo_suffix(name)}")
        lines += [f"{caption} ({i})\t{name}{photo_suffix(name)}" for caption in CAPTIONS[name]]
    (data / "c.tsv").write_text("\n".join(lines) + "\n")
    paths, raw = photo_project(tmp_path, source="tsv", path=str(data / "c.tsv"), test_fraction=0.5)
    reset_mlflow()
    stages = ("ingest", "validate", "embed", "train", "evaluate", "register")
    results = run_stages(parse_params(raw), paths, *stages)
    reset_mlflow()
    metrics = results["evaluate"].metrics
    assert metrics["fid_name"].startswith("fid_") and metrics[metrics["fid_name"]] > 0
    # No ground-truth attributes outside the synthetic set: alignment is R-precision.
    assert "attr_acc_heldout" not in metrics and metrics["alignment"] == metrics["r_precision"]
    assert 0 <= metrics["r_precision"] <= 1 and 0 <= metrics["r_precision_ceiling"] <= 1
    assert results["register"].promoted and results["register"].reason == "no champion yet"
