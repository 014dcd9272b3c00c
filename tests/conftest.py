"""Shared fixtures: an offline environment, tiny params, and temporary projects with their own stores.

Every test that touches MLflow gets the sqlite store of its own temporary project (never the repo's mlruns/),
and every cache lives under that project too. Tests under tests/integration are marked `integration`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from t2igan.config import Params
from t2igan.env import OFFLINE_DEFAULTS
from t2igan.paths import ProjectPaths
from tests.support.project import reset_mlflow, run_stages, tiny_params_dict, write_project

INTEGRATION = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in OFFLINE_DEFAULTS.items():
        monkeypatch.setenv(key, value)
    # Set in os.environ by mlflow itself when a test configures it; monkeypatch does not undo what it did not
    # set, so each test starts without them (module fixtures call reset_mlflow() for the same reason).
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.delenv("T2IGAN_CACHE_DIR", raising=False)


@pytest.fixture
def tiny_params() -> Params:
    from t2igan.config import parse_params

    return parse_params(tiny_params_dict())


@pytest.fixture
def project(tmp_path: Path) -> ProjectPaths:
    """An empty project root with tiny params.yaml."""
    return write_project(tmp_path / "project", tiny_params_dict())


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> ProjectPaths:
    """One tiny pipeline run through register, shared by the tests of one module (which may change it)."""
    from t2igan.config import parse_params

    raw = tiny_params_dict()
    paths = write_project(tmp_path_factory.mktemp("trained") / "project", raw)
    # system metrics sampled every second, so a training of seconds records some
    env = {**OFFLINE_DEFAULTS, "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL": "1"}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        reset_mlflow()
        run_stages(parse_params(raw), paths, "ingest", "validate", "embed", "train", "evaluate", "register")
    finally:
        reset_mlflow()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
    return paths


@pytest.fixture(scope="session")
def studio_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectPaths, Any]:
    """A tiny project whose registry holds @champion (version 1) and a @challenger waiting for votes (2).

    Session-wide, built once for the describe and studio tests (in that order: the studio's browser test,
    the last to run, promotes version 2).
    """
    from tests.support.studio import champion_and_waiting_challenger

    return champion_and_waiting_challenger(tmp_path_factory.mktemp("studio") / "project")


@pytest.fixture(scope="session")
def inception() -> Any:
    """The FID network, loaded once per test session."""
    from t2igan.metrics.inception import InceptionFeatures

    return InceptionFeatures()


@pytest.fixture(scope="session")
def reference_features(inception: Any) -> dict[str, Any]:
    """Inception features of each torch-fidelity reference set."""
    from t2igan.metrics.features import extract
    from tests.support.fid_reference import SETS, batches, load_set

    return {name: extract(inception, batches(load_set(name))) for name in SETS}
