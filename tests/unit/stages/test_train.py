"""The train stage: an interrupted run resumed in process ends exactly where an uninterrupted one does."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from safetensors.torch import load_file

from t2igan.config import Params
from t2igan.io import read_json
from t2igan.paths import ProjectPaths
from t2igan.stages import train
from tests.support.project import reset_mlflow, tiny_params_dict
from tests.support.templates import ProjectTemplates


def weights_hash(paths: ProjectPaths) -> str:
    """Of the exported generator and, when training adapted the LM, of the adaptation's weights too."""
    files = [
        paths.model_dir / "generator.safetensors",
        *sorted(paths.model_dir.glob("text_tuning/*.safetensors")),
    ]
    digest = hashlib.sha256()
    for file in files:
        state = load_file(str(file))
        for key in sorted(state):
            digest.update(key.encode())
            digest.update(state[key].numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.slow
def test_interrupted_and_resumed_run_ends_bit_identical(
    tmp_path: Path, tiny_params: Params, templates: ProjectTemplates
) -> None:
    # Given two projects on the same data, when one trains straight through and the other stops halfway
    # (a crash after its checkpoint) and resumes, then both end with the same generator weights.
    data = ("ingest", "validate", "embed")
    straight = templates.project(tmp_path / "straight", tiny_params_dict(), *data)
    train.run(tiny_params, straight)

    reset_mlflow()  # the next project's store, not the last one's
    resumed = templates.project(tmp_path / "resumed", tiny_params_dict(), *data)
    half = tiny_params.model_copy(update={"train": tiny_params.train.model_copy(update={"steps": 8})})
    train.run(half, resumed)
    second = train.run(tiny_params, resumed)
    assert second.resumed_from == 8
    assert weights_hash(straight) == weights_hash(resumed)
    # The resumed run continued the first one's MLflow run, and its summary says where it started.
    assert read_json(resumed.model_dir / "run.json")["run_id"] == second.run_id
    assert read_json(resumed.metrics("train"))["resumed_from"] == 8


def test_a_run_writes_the_model_its_metrics_and_the_loss_table(
    embedded: ProjectPaths, tiny_params: Params
) -> None:
    project = embedded
    result = train.run(tiny_params, project)
    summary = read_json(project.metrics("train"))
    assert (summary["steps"], summary["resumed_from"], summary["processes"]) == (12, 0, 1)
    assert set(result.final_losses) >= {"loss_d", "loss_g", "logit_real", "logit_fake"}
    assert (project.model_dir / "generator.safetensors").is_file() and (
        project.model_dir / "encoder.json"
    ).is_file()
    assert sorted(p.name for p in project.checkpoints_dir.glob("*.pt")) == [
        "ckpt-00000004.pt",
        "ckpt-00000008.pt",
        "ckpt-00000012.pt",
    ]
    table = (project.metrics_dir / "train_log.csv").read_text().splitlines()
    assert table[0] == "step,loss_d,loss_g,ma_gp,images_per_second"
    assert [int(line.split(",")[0]) for line in table[1:]] == [4, 8, 12]  # every log_every steps
