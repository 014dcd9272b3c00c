"""Checkpoints: everything needed to continue a run exactly, written atomically, kept to the last K.

Each `ckpt-<step>.pt` is written to a temp file, fsynced and renamed, then a `.sha256` sidecar is written the
same way. A checkpoint whose sidecar is missing or does not match (a crash between the two renames, a
truncated copy, bit rot) is skipped and the previous one used. Loading uses `weights_only=True`: a
checkpoint is data, never code.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from t2igan.io import atomic_path, sha256_file, write_text

log = logging.getLogger(__name__)

_NAME = re.compile(r"^ckpt-(\d{8})\.pt$")


class CheckpointManager:
    def __init__(self, directory: Path, keep_last: int) -> None:
        self.directory = directory
        self.keep_last = keep_last

    def _all(self) -> list[tuple[int, Path]]:
        if not self.directory.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.directory.iterdir() if (m := _NAME.match(p.name))]
        return sorted(found)

    def save(self, step: int, state: dict[str, Any]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"ckpt-{step:08d}.pt"
        with atomic_path(target) as tmp:
            torch.save(state, tmp)
            digest = sha256_file(tmp)
        write_text(target.with_name(target.name + ".sha256"), digest + "\n")
        self._prune()
        return target

    def _prune(self) -> None:
        for _, path in self._all()[: -self.keep_last]:
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".sha256").unlink(missing_ok=True)

    def _verified(self, path: Path) -> bool:
        sidecar = path.with_name(path.name + ".sha256")
        if not sidecar.is_file():
            return False
        return sidecar.read_text().strip() == sha256_file(path)

    def newest_intact(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest checkpoint whose checksum holds, whatever run wrote it, or None."""
        for _, path in reversed(self._all()):
            if not self._verified(path):
                log.warning("checkpoint %s is corrupt or incomplete; trying the previous one", path.name)
                continue
            return path, torch.load(path, map_location="cpu", weights_only=True)
        return None

    def latest(self, signature: str) -> tuple[Path, dict[str, Any]] | None:
        """The newest intact checkpoint of a run with this signature, or None."""
        found = self.newest_intact()
        if found is None:
            return None
        path, state = found
        if state.get("signature") != signature:
            log.info("checkpoint %s belongs to a different configuration; not resuming from it", path.name)
            return None
        return found

    def read(self, path: Path) -> dict[str, Any]:
        """One named checkpoint, refused when its checksum does not hold."""
        if not self._verified(path):
            raise ValueError(f"{path}: checksum missing or wrong (a partial or corrupted checkpoint)")
        return torch.load(path, map_location="cpu", weights_only=True)

    def newest_path(self) -> Path | None:
        found = self._all()
        return found[-1][1] if found else None


@dataclass(frozen=True)
class Checkpointer:
    """Writes a run's checkpoints: the trainer's state with what identifies the run. Rank 0 only."""

    manager: CheckpointManager
    signature: str  # the configuration and data the run computes on (training.resume.run_signature)
    run_id: str | None  # its MLflow run, continued on resume
    gan: dict[str, Any]  # the architecture, so the weights rebuild alone (train.init_from)
    encoder_fingerprint: str
    init_source: str | None  # where the weights first came from
    enabled: bool = True

    def save(self, step: int, trainer_state: Callable[[], dict[str, Any]]) -> None:
        if not self.enabled:
            return
        self.manager.save(
            step,
            {
                "step": step,
                "signature": self.signature,
                "run_id": self.run_id,
                "gan": self.gan,
                "encoder_fingerprint": self.encoder_fingerprint,
                "init_from": self.init_source,
                "trainer": trainer_state(),
            },
        )
