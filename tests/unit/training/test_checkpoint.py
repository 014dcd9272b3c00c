"""Checkpoints: atomic, pruned to the last K, checked on load; fine-tuning reads them back."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from t2igan.config import TrainParams
from t2igan.errors import ConfigError
from t2igan.paths import ProjectPaths
from t2igan.training.checkpoint import Checkpointer, CheckpointManager
from t2igan.training.init_from import check_compatible, load_initial_weights
from t2igan.training.trainer import Trainer
from tests.support.project import tiny_gan


def test_keeps_last_k_and_skips_a_corrupt_newest(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, keep_last=2)
    for step in (1, 2, 3):
        manager.save(step, {"step": step, "signature": "s", "w": torch.full((3,), float(step))})
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["ckpt-00000002.pt", "ckpt-00000003.pt"]
    newest = tmp_path / "ckpt-00000003.pt"
    newest.write_bytes(newest.read_bytes()[:-10])  # truncated copy
    found = manager.latest("s")
    assert found is not None
    path, state = found
    assert path.name == "ckpt-00000002.pt" and state["step"] == 2
    assert manager.latest("other-config") is None


def test_checkpoint_without_its_checksum_is_not_trusted(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, keep_last=3)
    manager.save(1, {"step": 1, "signature": "s"})
    manager.save(2, {"step": 2, "signature": "s"})
    (tmp_path / "ckpt-00000002.pt.sha256").unlink()  # crash between the two renames
    found = manager.latest("s")
    assert found is not None and found[1]["step"] == 1


def test_the_checkpointer_writes_what_identifies_the_run_and_only_where_enabled(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, keep_last=2)
    identity = ("sig", "run-1", {"nf": 8}, "enc", "models:/t2igan/3")
    Checkpointer(manager, *identity, enabled=False).save(
        4, lambda: pytest.fail("state taken on a non-main rank")
    )
    assert manager.newest_path() is None
    Checkpointer(manager, *identity).save(4, lambda: {"w": torch.ones(2)})
    state = manager.read(tmp_path / "ckpt-00000004.pt")
    assert (state["signature"], state["run_id"], state["gan"], state["encoder_fingerprint"]) == identity[:4]
    assert (
        state["init_from"] == "models:/t2igan/3"
        and state["step"] == 4
        and torch.equal(state["trainer"]["w"], torch.ones(2))
    )


def test_init_from_a_checkpoint_reads_g_d_and_ema_and_refuses_a_corrupt_one(tmp_path: Path) -> None:
    gan = tiny_gan()
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

    # A pretrained backbone in D changes D's input only: G and the EMA carry over, D starts fresh.
    with_backbone = tiny_gan(d_backbone="inception", d_backbone_resolution=75)
    check_compatible(initial, with_backbone, "enc-a")
    projected = Trainer(with_backbone, TrainParams(seed=0), torch.device("cpu"))
    fresh_heads = {k: v.clone() for k, v in projected.discriminator.state_dict().items()}
    projected.start_from(initial)
    assert all(
        torch.equal(projected.generator.state_dict()[k], v) for k, v in source.generator.state_dict().items()
    )
    assert all(torch.equal(projected.discriminator.state_dict()[k], v) for k, v in fresh_heads.items())
    with pytest.raises(ConfigError, match="another text encoder"):
        check_compatible(initial, gan, "enc-b")
    with pytest.raises(ConfigError, match=r"different architecture: nf 8 \(this run: 16\)"):
        check_compatible(initial, tiny_gan(nf=16), "enc-a")
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ConfigError, match="checksum missing or wrong"):
        load_initial_weights(str(path), paths)
    with pytest.raises(ConfigError, match="no such file"):
        load_initial_weights("nowhere.pt", paths)


def test_a_checkpoint_whose_checksum_holds_but_whose_contents_do_not_load_is_passed_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import hashlib

    manager = CheckpointManager(tmp_path, keep_last=3)
    manager.save(1, {"step": 1, "signature": "s"})
    garbage = b"PK\x03\x04 not really a torch archive"
    (tmp_path / "ckpt-00000002.pt").write_bytes(garbage)
    (tmp_path / "ckpt-00000002.pt.sha256").write_text(hashlib.sha256(garbage).hexdigest() + "\n")
    with caplog.at_level("WARNING"):
        found = manager.latest("s")
    assert found is not None and found[1]["step"] == 1
    assert "checkpoint ckpt-00000002.pt does not load" in caplog.text and "Traceback" not in caplog.text
    with pytest.raises(ValueError, match="does not load"):
        manager.read(tmp_path / "ckpt-00000002.pt")


def test_a_state_that_does_not_fit_the_trainer_is_named_before_anything_is_loaded() -> None:
    trainer = Trainer(tiny_gan(), TrainParams(), torch.device("cpu"))
    state = trainer.state_dict()
    assert trainer.why_unfit(state) is None
    other = Trainer(tiny_gan(nf=16), TrainParams(), torch.device("cpu")).state_dict()
    before = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    assert trainer.why_unfit(other).startswith("generator.")
    assert trainer.why_unfit({"generator": {}}) == "it lacks parts of the trainer's state"
    assert all(torch.equal(v, trainer.generator.state_dict()[k]) for k, v in before.items())  # untouched


def test_a_full_disk_is_one_transient_error_and_the_earlier_checkpoints_stay(tmp_path: Path) -> None:
    import subprocess

    from t2igan.errors import TransientError

    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)]).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        manager = CheckpointManager(small, keep_last=3)
        manager.save(1, {"step": 1, "signature": "s", "w": torch.zeros(100)})
        with pytest.raises(TransientError, match=rf"^no space left on {small} to write ckpt-00000002.pt"):
            manager.save(2, {"step": 2, "signature": "s", "w": torch.zeros(100_000)})
        assert sorted(p.name for p in small.iterdir()) == ["ckpt-00000001.pt", "ckpt-00000001.pt.sha256"]
        found = manager.latest("s")
        assert found is not None and found[1]["step"] == 1
    finally:
        subprocess.run(["umount", str(small)])
