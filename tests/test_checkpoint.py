"""Checkpoints: atomic, pruned to the last K, checked on load; resume continues exactly."""

from __future__ import annotations

import hashlib
import os

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


@pytest.mark.slow
def test_a_run_killed_with_sigkill_and_resumed_ends_bit_identical(tmp_path) -> None:
    """`t2igan train` killed -9 right after a checkpoint lands, then run again, ends with the weights of a run
    that was never interrupted (resume: auto, sampler position and RNG states from the checkpoint)."""
    import signal
    import subprocess
    import time

    import yaml

    from conftest import VENV_BIN, tiny_params_dict
    from t2igan.config import parse_params
    from t2igan.env import OFFLINE_DEFAULTS
    from t2igan.io import read_json

    raw = tiny_params_dict(train={"steps": 160, "checkpoint_every": 20, "log_every": 20, "sample_every": 160})
    params = parse_params(raw)
    reset_mlflow()
    straight = ProjectPaths.at(tmp_path / "straight")
    run_stages(params, straight, "ingest", "validate", "embed", "train")

    killed = ProjectPaths.at(tmp_path / "killed")
    killed.root.mkdir(parents=True)
    (killed.root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    run_stages(params, killed, "ingest", "validate", "embed")
    reset_mlflow()
    env = {**os.environ, **OFFLINE_DEFAULTS}
    process = subprocess.Popen([str(VENV_BIN / "t2igan"), "train"], cwd=killed.root, env=env)
    first = killed.checkpoints_dir / "ckpt-00000040.pt.sha256"
    deadline = time.monotonic() + 300
    while not first.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "training finished before it could be killed"
    assert not (killed.model_dir / "generator.safetensors").exists()

    resumed = subprocess.run(
        [str(VENV_BIN / "t2igan"), "train"], cwd=killed.root, env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert 40 <= read_json(killed.metrics("train"))["resumed_from"] < 160
    assert _weights_hash(straight) == _weights_hash(killed)


def test_init_from_a_checkpoint_reads_g_d_and_ema_and_refuses_a_corrupt_one(tmp_path) -> None:
    from t2igan.config import TrainParams
    from t2igan.errors import ConfigError
    from t2igan.gan.config import GANConfig
    from t2igan.training.init_from import check_compatible, load_initial_weights
    from t2igan.training.trainer import Trainer

    gan = GANConfig(image_size=16, text_dim=12, nf=8, d_nf=8, z_dim=10, cond_dim=6, contrastive_dim=8)
    source = Trainer(gan, TrainParams(seed=3), torch.device("cpu"))
    manager = CheckpointManager(tmp_path / "ckpts", keep_last=2)
    state = {"step": 5, "gan": gan.to_dict(), "encoder_fingerprint": "enc-a", "trainer": source.state_dict()}
    path = manager.save(5, state)
    paths = ProjectPaths.at(tmp_path)

    for spec in (str(path), "ckpts"):  # a file, or a directory's newest intact checkpoint (relative to root)
        initial = load_initial_weights(spec, paths)
        check_compatible(initial, gan, "enc-a")
        tuned = Trainer(gan, TrainParams(seed=0), torch.device("cpu"))
        tuned.start_from(initial)
        for module in ("generator", "discriminator", "ema"):
            ours, theirs = getattr(tuned, module).state_dict(), getattr(source, module).state_dict()
            assert all(torch.equal(ours[k], theirs[k]) for k in theirs)

    with pytest.raises(ConfigError, match="another text encoder"):
        check_compatible(initial, gan, "enc-b")
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ConfigError, match="checksum missing or wrong"):
        load_initial_weights(str(path), paths)
    with pytest.raises(ConfigError, match="no such file"):
        load_initial_weights("nowhere.pt", paths)
