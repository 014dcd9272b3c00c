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

__all__ = ["REPO", "project", "run_stages", "timed"]


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
