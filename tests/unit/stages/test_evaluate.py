"""The evaluate stage: FID and KID that rank generators correctly, exact repeats, caches, the report."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from t2igan.config import parse_params
from t2igan.gan.export import WEIGHTS_FILE, load_generator, save_generator
from t2igan.gan.generator import Generator
from t2igan.io import read_json
from t2igan.metrics import alignment
from t2igan.paths import ProjectPaths
from t2igan.stages import evaluate
from t2igan.vision.inception import InceptionFeatures
from tests.support.markdown import table_after
from tests.support.project import own_cache, reset_mlflow, run_stages, tiny_params_dict
from tests.support.templates import ProjectTemplates

# Long enough that the generator draws coloured shapes rather than its initial noise.
TRAINED = {"train": {"steps": 160, "checkpoint_every": 80, "sample_every": 80}}


# What is computed and what comes from the cache is the subject here: each project keeps its own cache.
pytestmark = pytest.mark.own_cache


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory, templates: ProjectTemplates) -> ProjectPaths:
    raw = tiny_params_dict(**TRAINED)
    paths = templates.project(
        tmp_path_factory.mktemp("evaluate") / "project", raw, "ingest", "validate", "embed"
    )
    with own_cache():
        reset_mlflow()
        try:
            run_stages(parse_params(raw), paths, "train", "evaluate")
        finally:
            reset_mlflow()
    return paths


def _params(paths: ProjectPaths):
    return parse_params(yaml.safe_load((paths.root / "params.yaml").read_text()))


def _evaluate(paths: ProjectPaths) -> dict:
    reset_mlflow()
    try:
        return evaluate.run(_params(paths), paths).metrics
    finally:
        reset_mlflow()


def _without_timing(metrics: dict) -> dict:
    volatile = {"eval_seconds", "real_features_cached", "generated_features_cached"}
    return {k: v for k, v in metrics.items() if k not in volatile}


@pytest.fixture
def inception_images(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the images that go through Inception."""
    counted = {"images": 0}
    forward = InceptionFeatures.forward

    def counting(self: InceptionFeatures, images: torch.Tensor) -> torch.Tensor:
        counted["images"] += int(images.shape[0])
        return forward(self, images)

    monkeypatch.setattr(InceptionFeatures, "forward", counting)
    return counted


@pytest.mark.slow
def test_a_repeated_evaluation_gives_the_same_numbers_and_recomputes_nothing_cached(
    evaluated: ProjectPaths, monkeypatch: pytest.MonkeyPatch, inception_images: dict[str, int]
) -> None:
    first = read_json(evaluated.metrics("eval"))
    assert first["fid_name"] == "fid_24" and first["kid_name"] == "kid_24"
    assert first["kid_24_std"] >= 0 and first["real_features_cached"] is False

    def refuse(*_args: object, **_kwargs: object) -> None:
        pytest.fail("the judge was trained again")

    monkeypatch.setattr(alignment, "train_judge", refuse)
    # Generated side recomputed from scratch: the same figures (fixed captions and seeds).
    for stale in (evaluated.cache_dir / "inception").glob("generated-*.npy"):
        stale.unlink()
    again = _evaluate(evaluated)
    assert again["real_features_cached"] is True and again["generated_features_cached"] is False
    assert inception_images["images"] == 24  # only the generated side went through Inception
    assert _without_timing(again) == _without_timing(first)
    # The same checkpoint once more: nothing goes through Inception at all.
    third = _evaluate(evaluated)
    assert inception_images["images"] == 24 and third["generated_features_cached"] is True
    assert _without_timing(third) == _without_timing(first)


@pytest.mark.slow
def test_fid_and_kid_rank_an_untrained_generator_worse(
    evaluated: ProjectPaths, tmp_path: Path, inception_images: dict[str, int]
) -> None:
    trained = read_json(evaluated.metrics("eval"))
    copy = ProjectPaths.at(tmp_path / "untrained")
    shutil.copytree(evaluated.root, copy.root, symlinks=True)
    generator, meta = load_generator(copy.model_dir)
    untrained = Generator(generator.config).eval()
    (copy.model_dir / WEIGHTS_FILE).unlink()
    save_generator(untrained, copy.model_dir, meta)
    worse = _evaluate(copy)
    # Another checkpoint on the same data: the real side comes from the cache; only its own images (24 for
    # FID, 4 captions x 3 seeds for diversity) go through Inception.
    assert inception_images["images"] == 24 + 4 * 3 and worse["real_features_cached"] is True
    fid, kid = trained["fid_name"], trained["kid_name"]
    assert worse[fid] > trained[fid] and worse[kid] > trained[kid]
    # The trained model's diversity was measured against real images with its captions' attributes
    assert trained["diversity_reference"] == "attributes" and trained["diversity_captions"] == 4
    assert trained["diversity"] > 0 and trained["diversity_pixels"] > 0
    # The report puts the figures side by side with the champion's; here there is none.
    report = (copy.eval_dir / "report.md").read_text()
    assert "No champion in the registry yet" in report
    assert {"figure": fid, "this model": f"{worse[fid]:.4f}"} in table_after(report, "compared with nothing.")


@pytest.mark.slow
def test_the_report_compares_with_the_champion_and_shows_confusion_and_nearest_images(
    evaluated: ProjectPaths, tmp_path: Path
) -> None:
    project = ProjectPaths.at(tmp_path / "with-champion")
    shutil.copytree(evaluated.root, project.root, symlinks=True)
    reset_mlflow()
    try:
        run_stages(_params(project), project, "register")  # the first version becomes @champion
    finally:
        reset_mlflow()
    metrics = _evaluate(project)
    report = (project.eval_dir / "report.md").read_text()
    fid = metrics["fid_name"]
    row = next(row for row in table_after(report, "# Evaluation") if row["figure"] == fid)
    assert row["change"] == "+0.0000 (same)"  # the champion is this very model
    assert row["champion (version 1)"] == row["this model"]
    # Attribute confusion: one table per attribute, counts summing to the judged samples.
    confusion = read_json(project.eval_dir / "confusion.json")
    assert set(confusion) == {"color", "shape", "size", "position", "background"}
    judged = {int(np.sum(table["counts"])) for table in confusion.values()}
    assert len(judged) == 1 and 0 < judged.pop() <= 24
    color = confusion["color"]
    assert np.trace(np.array(color["counts"])) / np.sum(color["counts"]) == pytest.approx(
        metrics["attr_acc_heldout"]["color"]
    )
    assert "### color" in report and "asked \\ drawn" in report
    # Memorization: the picture, a distance per sample, and a ratio against real held-out images.
    assert (project.eval_dir / "nearest.png").is_file() and "![nearest](nearest.png)" in report
    assert metrics["memorization_ratio"] > 0 and metrics["nn_distance_real"] > 0
