"""`t2igan train` killed -9 right after a checkpoint lands, then run again, ends bit-identical."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from t2igan.config import parse_params
from t2igan.io import read_json
from tests.support.project import (
    VENV_BIN,
    reset_mlflow,
    run_stages,
    tiny_params_dict,
    tool_env,
    train_killed_after,
)
from tests.support.templates import ProjectTemplates
from tests.unit.stages.test_train import weights_hash


@pytest.mark.slow
def test_a_run_killed_with_sigkill_and_resumed_ends_bit_identical(
    tmp_path: Path, templates: ProjectTemplates
) -> None:
    """Resume: auto, with the sampler position and every RNG state from the checkpoint, gives the weights of
    a run that was never interrupted; here with the language model adapted too (LoRA on MiniLM), whose
    adapters and their optimizer continue from the checkpoint as well (the frozen LM's resume:
    tests/unit/stages/test_train.py)."""
    train = {"steps": 40, "checkpoint_every": 10, "log_every": 10, "sample_every": 40}  # LoRA doubles a step
    raw = tiny_params_dict(train={**train, "text": {"finetune": "lora"}})
    data = ("ingest", "validate", "embed")
    straight = templates.project(tmp_path / "straight", raw, *data)
    run_stages(parse_params(raw), straight, "train")

    killed = templates.project(tmp_path / "killed", raw, *data)
    reset_mlflow()
    train_killed_after(killed, 20)
    assert not (killed.model_dir / "generator.safetensors").exists()

    resumed = subprocess.run(
        [str(VENV_BIN / "t2igan"), "train"], cwd=killed.root, env=tool_env(), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert 20 <= read_json(killed.metrics("train"))["resumed_from"] < 40
    assert weights_hash(straight) == weights_hash(killed)
    assert (killed.model_dir / "text_tuning" / "adapter_model.safetensors").is_file()
