"""Data-parallel training under torchrun: shards of one global batch, ranks that stay in step."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import VENV_BIN, reset_mlflow, run_stages
from t2igan.config import Params
from t2igan.env import OFFLINE_DEFAULTS
from t2igan.errors import DataError
from t2igan.io import read_json
from t2igan.paths import ProjectPaths
from t2igan.training.data import BatchSampler, TrainingSet


@pytest.fixture
def embedded(project: ProjectPaths, tiny_params: Params) -> ProjectPaths:
    reset_mlflow()
    run_stages(tiny_params, project, "ingest", "validate", "embed")
    return project


def test_the_shards_of_a_batch_are_the_single_process_batch(embedded: ProjectPaths) -> None:
    data = TrainingSet.load(embedded)
    whole = BatchSampler(data, batch_size=8, seed=3)
    shards = [BatchSampler(data, batch_size=8, seed=3, shard=r, shards=2) for r in range(2)]
    for step in (0, 1, 25):
        images, text = whole.batch(step)
        parts = [s.batch(step) for s in shards]
        assert all(p[0].shape[0] == 4 for p in parts)
        # Rank r holds positions r, r+2, ...: interleaving the shards gives back the global batch.
        np.testing.assert_array_equal(images[0::2].numpy(), parts[0][0].numpy())
        np.testing.assert_array_equal(images[1::2].numpy(), parts[1][0].numpy())
        np.testing.assert_array_equal(text[1::2].numpy(), parts[1][1].numpy())
    with pytest.raises(DataError, match="does not split evenly over 3 processes"):
        BatchSampler(data, batch_size=8, seed=3, shard=0, shards=3)


def _torchrun(project: ProjectPaths, *command: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **OFFLINE_DEFAULTS, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(VENV_BIN / "torchrun"), "--standalone", "--nproc-per-node", "2", *command],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_two_gloo_processes_train_together_and_end_with_identical_weights(embedded: ProjectPaths) -> None:
    done = _torchrun(embedded, str(VENV_BIN / "t2igan"), "train")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = read_json(embedded.metrics("train"))
    assert summary["processes"] == 2 and summary["steps"] == 12
    # Rank 0 alone wrote the model and the checkpoints (kept to the last 3 of steps 4, 8, 12).
    assert (embedded.model_dir / "generator.safetensors").is_file()
    assert sorted(p.name for p in embedded.checkpoints_dir.glob("*.pt")) == [
        "ckpt-00000004.pt",
        "ckpt-00000008.pt",
        "ckpt-00000012.pt",
    ]


# A fault injected on rank 1: it takes part in every all-reduce, then nudges its averaged gradients, so its
# weights drift from rank 0's without any collective going out of step.
_DRIFTING_RANK = """
import os, sys
from t2igan.stages import train
from t2igan.training import trainer

if os.environ["RANK"] == "1":
    averaged = trainer.average_gradients

    def drifting(module, world):
        averaged(module, world)
        for parameter in module.parameters():
            if parameter.grad is not None:
                parameter.grad.add_(1e-3)

    trainer.average_gradients = drifting
from t2igan.config import load_params
from t2igan.paths import ProjectPaths

try:
    train.run(load_params("params.yaml"), ProjectPaths.at("."))
except Exception as exc:
    print(f"rank {os.environ['RANK']}: {exc}", file=sys.stderr)
    sys.exit(3)
"""


@pytest.mark.slow
def test_ranks_that_drift_apart_fail_the_run(embedded: ProjectPaths, tmp_path: Path) -> None:
    script = tmp_path / "drift.py"
    script.write_text(_DRIFTING_RANK)
    done = _torchrun(embedded, str(script))
    assert done.returncode != 0
    assert "the 2 ranks ended with different generator weights" in done.stderr
    assert not (embedded.model_dir / "generator.safetensors").exists()
