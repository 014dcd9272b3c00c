"""Shared by the benchmarks: a throwaway t2igan project, built with the tests' helpers (tests/support)."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python bench/bench_x.py`: the repository root is not on the path
    sys.path.insert(0, str(REPO))

from t2igan.config import Params, merge_layers, parse_params  # noqa: E402
from t2igan.env import apply_offline_defaults  # noqa: E402
from t2igan.paths import ProjectPaths  # noqa: E402
from tests.support.project import repo_params, run_stages, write_project  # noqa: E402

__all__ = ["REPO", "peak_rss_gib", "project", "run_stages", "timed"]


def project(overrides: dict[str, Any], prefix: str) -> tuple[ProjectPaths, Params]:
    """A new project directory under /tmp with params.yaml = the repo's params + `overrides`."""
    apply_offline_defaults()
    raw = merge_layers(repo_params(), overrides)
    root = Path(tempfile.mkdtemp(prefix=f"t2igan-bench-{prefix}-"))
    return write_project(root, raw), parse_params(raw)


def timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Wall seconds of `repeats` calls of `fn`, one by one."""
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def peak_rss_gib(paths: ProjectPaths, *command: str) -> float:
    """Peak RSS (GiB) of `t2igan <command>` run in the project, as a child measured by its parent."""
    import os
    import subprocess

    launcher = (
        "import resource, subprocess, sys\n"
        "code = subprocess.run(sys.argv[1:]).returncode\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", launcher, str(Path(sys.executable).parent / "t2igan"), *command],
        cwd=paths.root,  # its params.yaml
        capture_output=True,
        text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{paths.root / 'mlruns' / 'mlflow.db'}"},
    )
    if done.returncode != 0:
        raise SystemExit(f"t2igan {' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return int(done.stdout.strip().splitlines()[-1]) / 2**20
