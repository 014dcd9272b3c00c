"""Several training processes from one command: `train.nproc` makes the train stage start itself under torchrun.

A work pool that gives a run N GPUs (`t2igan flow deploy --gpus N`) then trains on all of them with no
other change: `nproc: auto` is one process per visible GPU (one on a CPU machine). The launcher starts
torchrun and waits, holding the project lock for its ranks (they skip it: t2igan.locks); the ranks do the
work, and rank 0 writes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from t2igan.config import DEFAULT_PARAMS_FILE, Params, TrainParams
from t2igan.env import LOCKED_PROJECT_ENV
from t2igan.paths import ProjectPaths


def under_torchrun() -> bool:
    """Whether this process is one of torchrun's ranks (it sets RANK for each)."""
    return "RANK" in os.environ


def processes(cfg: TrainParams) -> int:
    """How many ranks `train.nproc` asks for: auto = one per visible CUDA device, at least one."""
    if cfg.nproc != "auto":
        return int(cfg.nproc)
    import torch

    return max(1, torch.cuda.device_count())


def torchrun_command(nproc: int, params_file: Path, project: Path) -> list[str]:
    """`torchrun --standalone --nproc-per-node N -m t2igan.cli train ...` with this interpreter."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)]
    return [*torchrun, "-m", "t2igan.cli", "train", "--params", str(params_file), "--project", str(project)]


def launch(nproc: int, params: Params, paths: ProjectPaths) -> int:
    """Run the ranks to the end; torchrun's exit code (non-zero when any rank failed).

    The ranks read these params, as resolved here (the run's overrides included), from a file of their own:
    whatever changes in the project's params files meanwhile, every rank trains the same configuration.
    """
    with tempfile.TemporaryDirectory(prefix="t2igan-ranks-") as scratch:
        params_file = Path(scratch) / DEFAULT_PARAMS_FILE
        resolved = params.model_dump(mode="json", by_alias=True)
        params_file.write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")
        env = {**os.environ, LOCKED_PROJECT_ENV: str(paths.root)}
        return subprocess.call(torchrun_command(nproc, params_file, paths.root), env=env)
