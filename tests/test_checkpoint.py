"""Checkpoints: atomic, pruned to the last K, checked on load; resume continues exactly."""

from __future__ import annotations

import hashlib

import pytest
import torch
from safetensors.torch import load_file

from conftest import reset_mlflow, run_stages
from t2igan.config import Params
from t2igan.paths import ProjectPaths
from t2igan.stages import train
from t2igan.training.checkpoint import CheckpointManager


def test_keeps_last_k_and_skips_a_corrupt_newest(tmp_path) -> None:
    manager = CheckpointManager(tmp_path, keep_last=2)
    for step in (1, 2, 3):
        manager.save(step, {"step": step, "signature": "s", "w": torch.full((3,), float(step))})
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["ckpt-00000002.pt", "ckpt-00000003.pt"]
    newest = tmp_path / "ckpt-00000003.pt"
    newest.write_bytes(newest.read_bytes()[:-10])  # truncated copy
    path, state = manager.latest("s")
    assert path.name == "ckpt-00000002.pt" and state["step"] == 2
    assert manager.latest("other-config") is None


def test_checkpoint_without_its_checksum_is_not_trusted(tmp_path) -> None:
    manager = CheckpointManager(tmp_path, keep_last=3)
    manager.save(1, {"step": 1, "signature": "s"})
    manager.save(2, {"step": 2, "signature": "s"})
    (tmp_path / "ckpt-00000002.pt.sha256").unlink()  # crash between the two renames
    assert manager.latest("s")[1]["step"] == 1


def _weights_hash(paths: ProjectPaths) -> str:
    state = load_file(str(paths.model_dir / "generator.safetensors"))
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.slow
def test_interrupted_and_resumed_run_ends_bit_identical(tmp_path, tiny_params: Params) -> None:
    # Given two projects on the same data, when one trains straight through and the other stops halfway
    # (a crash after its checkpoint) and resumes, then both end with the same generator weights.
    reset_mlflow()
    straight = ProjectPaths.at(tmp_path / "straight")
    run_stages(tiny_params, straight, "ingest", "validate", "embed", "train")

    resumed = ProjectPaths.at(tmp_path / "resumed")
    half = tiny_params.model_copy(update={"train": tiny_params.train.model_copy(update={"steps": 8})})
    run_stages(half, resumed, "ingest", "validate", "embed", "train")
    second = train.run(tiny_params, resumed)
    assert second.resumed_from == 8
    assert _weights_hash(straight) == _weights_hash(resumed)
    reset_mlflow()
