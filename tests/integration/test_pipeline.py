"""A real-photo dataset through every stage: no attributes to judge, so alignment is R-precision."""

from __future__ import annotations

import math
from pathlib import Path

import mlflow
import pytest

from t2igan.config import parse_params
from t2igan.data.manifest import read_manifest
from t2igan.registry.aliases import version_metrics
from t2igan.tracking import configure
from tests.support.datasets import CAPTIONS, photo_project, photo_suffix, save_photo
from tests.support.project import run_stages


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
    stages = ("ingest", "validate", "embed", "train", "evaluate", "register")
    results = run_stages(parse_params(raw), paths, *stages)
    metrics = results["evaluate"].metrics
    # FID over every test image (fewer than fid_samples here), named by that count, a finite distance
    manifest = read_manifest(paths.clean_manifest)
    test_images = manifest.loc[manifest["split"] == "test", "store_index"].nunique()
    assert metrics["fid_name"] == f"fid_{test_images}"
    assert math.isfinite(metrics[metrics["fid_name"]]) and metrics[metrics["fid_name"]] > 0
    # No ground-truth attributes outside the synthetic set: alignment is R-precision, over the test captions
    test_captions = int((manifest["split"] == "test").sum())
    assert "attr_acc_heldout" not in metrics and metrics["alignment"] == metrics["r_precision"]
    assert metrics["r_precision_candidates"] == min(100, test_captions)
    assert 0 <= metrics["r_precision"] <= 1 and 0 <= metrics["r_precision_ceiling"] <= 1
    # What the registry stores for promotion is exactly what evaluate measured
    configure(paths)
    version = mlflow.MlflowClient().get_model_version("t2igan", results["register"].version)
    stored = version_metrics(mlflow.MlflowClient(), version)
    assert stored[metrics["fid_name"]] == metrics[metrics["fid_name"]]
    assert stored["alignment"] == metrics["alignment"]
    assert results["register"].promoted and results["register"].reason == "no champion yet"
