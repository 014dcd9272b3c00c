"""Shared fixtures: an offline environment, tiny params, and temporary projects with their own stores.

Every test that touches MLflow gets the sqlite store of its own temporary project (never the repo's mlruns/),
and every cache lives under that project too.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from t2igan.config import Params, deep_merge, parse_params
from t2igan.env import OFFLINE_DEFAULTS
from t2igan.paths import ProjectPaths

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

# Small enough to run the whole pipeline in well under a minute on 2 cores.
TINY: dict[str, Any] = {
    "data": {
        "image_size": 16,
        "synthetic": {"num_train": 160, "num_test": 48, "num_heldout": 32, "resolution": 32},
    },
    "train": {"steps": 12, "batch_size": 8, "log_every": 4, "sample_every": 6, "checkpoint_every": 4},
    "evaluate": {
        "fid_samples": 24,
        "alignment_samples": 24,
        "grid_captions": 4,
        "grid_seeds": 2,
        "judge": {"epochs": 1, "width": 8},
    },
}


def repo_params() -> dict[str, Any]:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def tiny_params_dict(**overrides: Any) -> dict[str, Any]:
    return deep_merge(deep_merge(repo_params(), TINY), overrides)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in OFFLINE_DEFAULTS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("T2IGAN_CACHE_DIR", raising=False)


@pytest.fixture
def tiny_params() -> Params:
    return parse_params(tiny_params_dict())


@pytest.fixture
def project(tmp_path: Path) -> ProjectPaths:
    """An empty project root with tiny params.yaml."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params_dict(), sort_keys=False))
    return ProjectPaths.at(root)


def run_stages(params: Params, paths: ProjectPaths, *stages: str) -> dict[str, Any]:
    """Run stages in-process, in order, as the CLI would; return their results by name."""
    results = {}
    for stage in stages:
        results[stage] = importlib.import_module(f"t2igan.stages.{stage}").run(params, paths)
    return results


def reset_mlflow() -> None:
    """Forget the tracking URI a previous test set, so the next configure() takes effect cleanly."""
    import mlflow

    if mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> ProjectPaths:
    """One tiny pipeline run through register, shared by the tests of one module (which may change it)."""
    root = tmp_path_factory.mktemp("trained") / "project"
    root.mkdir()
    raw = tiny_params_dict()
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    paths = ProjectPaths.at(root)
    saved = {key: os.environ.get(key) for key in OFFLINE_DEFAULTS}
    os.environ.update(OFFLINE_DEFAULTS)
    try:
        reset_mlflow()
        run_stages(parse_params(raw), paths, "ingest", "validate", "embed", "train", "evaluate", "register")
    finally:
        reset_mlflow()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
    return paths


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    """Run the installed `t2igan` console script."""
    full_env = {**os.environ, **OFFLINE_DEFAULTS, **(env or {})}
    full_env["PATH"] = f"{VENV_BIN}{os.pathsep}{full_env.get('PATH', '')}"
    return subprocess.run(
        [str(VENV_BIN / "t2igan"), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def copy_project_files(destination: Path) -> None:
    """The files a DVC project of t2igan needs (code stays installed; dvc.yaml names src/ as deps)."""
    for name in ("dvc.yaml", "params.override.yaml", "flows", "src"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        else:
            shutil.copy2(source, destination / name)
