"""Several training processes from one command: `train.nproc` makes `t2igan train` start itself under torchrun.

A work pool that gives a run N GPUs (`t2igan flow deploy --gpus N`) then trains on all of them with no
other change: `nproc: auto` is one process per visible GPU (one on a CPU machine). The launcher only starts
torchrun and waits; the ranks do the work, and rank 0 holds the project lock and writes (t2igan.locks).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from t2igan.config import TrainParams


def under_torchrun() -> bool:
    """Whether this process is one of torchrun's ranks (it sets RANK for each)."""
    return "RANK" in os.environ


def processes(cfg: TrainParams) -> int:
    """How many ranks `train.nproc` asks for: auto = one per visible CUDA device, at least one."""
    if cfg.nproc != "auto":
        return int(cfg.nproc)
    import torch

    return max(1, torch.cuda.device_count())


def torchrun_command(nproc: int, params_file: Path, project: Path | None) -> list[str]:
    """`torchrun --standalone --nproc-per-node N -m t2igan.cli train ...` with this interpreter."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)]
    command += ["-m", "t2igan.cli", "train", "--params", str(params_file)]
    return command + (["--project", str(project)] if project is not None else [])


def launch(nproc: int, params_file: Path, project: Path | None) -> int:
    """Run the ranks to the end; torchrun's exit code (non-zero when any rank failed)."""
    return subprocess.call(torchrun_command(nproc, params_file, project))
