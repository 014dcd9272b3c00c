"""Checkpoints: everything needed to continue a run exactly, written atomically, kept to the last K.

Each `ckpt-<step>.pt` is written to a temp file, fsynced and renamed, then a `.sha256` sidecar is written the
same way. A checkpoint whose sidecar is missing or does not match (a crash between the two renames, a
truncated copy, bit rot) is skipped and the previous one used. Loading uses `weights_only=True`: a
checkpoint is data, never code.
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from t2igan.errors import TransientError
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
        """Write atomically; a full disk is one transient error and leaves the earlier checkpoints intact.

        The state is serialised in memory first, so that writing it is plain file I/O with a plain errno
        (torch.save writing to a full disk reports "unexpected pos 576 vs 534").
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"ckpt-{step:08d}.pt"
        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getbuffer()
        try:
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)
            write_text(target.with_name(target.name + ".sha256"), hashlib.sha256(data).hexdigest() + "\n")
        except OSError as exc:
            target.unlink(missing_ok=True)  # no checkpoint without its checksum
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise TransientError(
                    f"no space left on {self.directory} to write {target.name} ({len(data) / 2**20:.0f} MB); "
                    "the earlier checkpoints are intact"
                ) from None
            raise
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

    def intact(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Checkpoints whose checksum holds and whose contents load, newest first, whatever run wrote them."""
        for _, path in reversed(self._all()):
            if not self._verified(path):
                log.warning("checkpoint %s is corrupt or incomplete; trying the previous one", path.name)
                continue
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # a checksum over bad contents: anything torch.load can raise
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                log.warning(
                    "checkpoint %s does not load (%s); trying the previous one", path.name, reason[:200]
                )
                continue
            if not isinstance(state, dict):
                log.warning("checkpoint %s holds no checkpoint state; trying the previous one", path.name)
                continue
            yield path, state

    def newest_intact(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest checkpoint whose checksum holds and whose contents load, or None."""
        return next(self.intact(), None)

    def resumable(self, signature: str) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Intact checkpoints of a run with this signature, newest first; none when the newest is another's."""
        for path, state in self.intact():
            if state.get("signature") != signature:
                log.info("checkpoint %s belongs to a different configuration; not resuming from it", path.name)
                return
            yield path, state

    def latest(self, signature: str) -> tuple[Path, dict[str, Any]] | None:
        """The newest intact checkpoint of a run with this signature, or None."""
        return next(self.resumable(signature), None)

    def read(self, path: Path) -> dict[str, Any]:
        """One named checkpoint, refused when its checksum does not hold or its contents do not load."""
        if not self._verified(path):
            raise ValueError(f"{path}: checksum missing or wrong (a partial or corrupted checkpoint)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(f"{path}: does not load ({type(exc).__name__})") from None
        if not isinstance(state, dict):
            raise ValueError(f"{path}: holds no checkpoint state")
        return state

    def clear(self) -> None:
        """Remove every checkpoint (and sidecar, and half-written file) here; nothing else."""
        for _, path in self._all():
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".sha256").unlink(missing_ok=True)
        if self.directory.is_dir():
            for partial in self.directory.glob(".ckpt-*.tmp"):
                partial.unlink(missing_ok=True)

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
