"""Data-parallel training under torchrun: two gloo ranks that stay in step, and a drift that fails the run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from t2igan.io import read_json
from t2igan.paths import ProjectPaths
from tests.support.project import VENV_BIN, cli, run_tool


def _torchrun(project: ProjectPaths, *command: str) -> subprocess.CompletedProcess[str]:
    torchrun = [str(VENV_BIN / "torchrun"), "--standalone", "--nproc-per-node", "2"]
    return run_tool([*torchrun, *command], project.root, timeout=300)


@pytest.mark.slow
def test_train_nproc_launches_gloo_ranks_that_end_with_identical_weights(embedded: ProjectPaths) -> None:
    # `train.nproc: 2` and a plain `t2igan train` (what a work pool runs): it starts itself under torchrun
    params_file = embedded.root / "params.yaml"
    raw = yaml.safe_load(params_file.read_text())
    raw["train"]["nproc"] = 2
    params_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    done = cli("train", cwd=embedded.root, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trained 12 steps" in done.stdout
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
