"""Shared by the benchmarks: a throwaway t2igan project with tiny or custom params."""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path
from typing import Any

import yaml

from t2igan.config import Params, deep_merge, parse_params
from t2igan.env import apply_offline_defaults
from t2igan.paths import ProjectPaths

REPO = Path(__file__).resolve().parents[1]


def project(overrides: dict[str, Any], prefix: str) -> tuple[ProjectPaths, Params]:
    """A new project directory under /tmp with params.yaml = the repo's params + `overrides`."""
    apply_offline_defaults()
    raw = deep_merge(yaml.safe_load((REPO / "params.yaml").read_text()), overrides)
    root = Path(tempfile.mkdtemp(prefix=f"t2igan-bench-{prefix}-"))
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    return ProjectPaths.at(root), parse_params(raw)


def run_stages(params: Params, paths: ProjectPaths, *stages: str) -> dict[str, Any]:
    return {s: importlib.import_module(f"t2igan.stages.{s}").run(params, paths) for s in stages}
