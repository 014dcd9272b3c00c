"""Shared fixtures: an offline environment, tiny params, temporary projects with their own stores, and what
the session builds once.

Every test that touches MLflow gets the sqlite store of its own temporary project (never the repo's mlruns/),
and MLflow forgets it after the test. The content-addressed caches (embeddings, Inception features, the
judge) are shared by every project of the session, as they would be by a user's projects; a test that counts
cache misses is marked `own_cache` and gets its project's own. Projects that start from the same stages are
copies of one template (tests/support/templates.py). Tests under tests/integration are marked
`integration`. Under pytest-xdist (`make test`: each test file on one worker, --dist loadfile) what the
session builds once (templates, the studio's project, the FID reference features) is built by the first
worker that asks and copied or read by the others.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from t2igan.config import Params, parse_params
from t2igan.env import CACHE_DIR_ENV, OFFLINE_DEFAULTS
from t2igan.paths import ProjectPaths
from tests.support.project import reset_mlflow, run_stages, tiny_params_dict, write_project
from tests.support.templates import ProjectTemplates, copy_project

INTEGRATION = Path(__file__).parent / "integration"

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Each worker takes its share of the cores (torch reads this at import, subprocesses inherit it): measured
    # on 2 cores, two workers of one thread each finish the suite 6% sooner than two of two threads.
    _share = max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))


# The test files that take longest (CI's --durations list), longest first: run in this order, before the
# rest, each worker always takes the next file when it is free, and the session ends when the last file does
# (`make test` passes --no-loadscope-reorder so that xdist keeps this order).
LONGEST_FIRST = (
    "integration/test_flow_e2e.py",
    "integration/test_team_mode.py",
    "unit/metrics/test_fid.py",
    "integration/test_beyond_one_machine.py",
    "integration/test_language_models.py",
    "integration/test_studio.py",
    "unit/training/test_trainer.py",
    "integration/test_landing.py",
    "integration/test_resume.py",
    "integration/test_registry.py",
    "integration/test_serving.py",
    "integration/test_distributed.py",
    "unit/stages/test_evaluate.py",
    "integration/test_training_faults.py",
    "integration/test_promotion_race.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if INTEGRATION in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(Path(item.fspath).relative_to(here).as_posix(), len(rank)))


def _session_root(factory: pytest.TempPathFactory) -> Path:
    """A directory every xdist worker of this session shares (the session's own temp root without xdist)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session", autouse=True)
def _session_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Offline, and the session's shared cache, for every test and every fixture (module ones included)."""
    wanted = {**OFFLINE_DEFAULTS, CACHE_DIR_ENV: str(_session_root(tmp_path_factory) / "t2igan-cache")}
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> ProjectTemplates:
    return ProjectTemplates(_session_root(tmp_path_factory) / "t2igan-templates")


@pytest.fixture(autouse=True)
def _offline(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in OFFLINE_DEFAULTS.items():  # again: a test may have changed them
        monkeypatch.setenv(key, value)
    # Set in os.environ by mlflow itself when a test configures it; monkeypatch does not undo what it did not
    # set, so each test starts without them (and `_forget_mlflow` removes them again after it).
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    if request.node.get_closest_marker("own_cache"):
        monkeypatch.delenv(CACHE_DIR_ENV, raising=False)  # the project's .t2igan-cache, empty at first


@pytest.fixture(autouse=True)
def _forget_mlflow() -> Iterator[None]:
    """Each test starts with no tracking URI and no active run, and leaves none behind."""
    reset_mlflow()
    yield
    reset_mlflow()


@pytest.fixture
def tiny_params() -> Params:
    return parse_params(tiny_params_dict())


@pytest.fixture
def project(tmp_path: Path) -> ProjectPaths:
    """An empty project root with tiny params.yaml."""
    return write_project(tmp_path / "project", tiny_params_dict())


@pytest.fixture
def validated(tmp_path: Path, templates: ProjectTemplates) -> ProjectPaths:
    """A project with tiny params whose data is ingested and validated."""
    return templates.project(tmp_path / "project", tiny_params_dict(), "ingest", "validate")


@pytest.fixture
def embedded(tmp_path: Path, templates: ProjectTemplates) -> ProjectPaths:
    """A project with tiny params whose data stages have run (ingest, validate, embed)."""
    return templates.project(tmp_path / "project", tiny_params_dict(), "ingest", "validate", "embed")


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory: pytest.TempPathFactory, templates: ProjectTemplates) -> ProjectPaths:
    """One tiny pipeline run through register, shared by the tests of one module (which may change it)."""
    raw = tiny_params_dict()
    paths = templates.project(
        tmp_path_factory.mktemp("trained") / "project", raw, "ingest", "validate", "embed"
    )
    # system metrics sampled every second, so a training of seconds records some
    saved = os.environ.get("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL")
    os.environ["MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"] = "1"
    try:
        reset_mlflow()
        run_stages(parse_params(raw), paths, "train", "evaluate", "register")
    finally:
        reset_mlflow()
        if saved is None:
            os.environ.pop("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", None)
        else:
            os.environ["MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"] = saved
    return paths


@pytest.fixture(scope="session")
def studio_project(
    tmp_path_factory: pytest.TempPathFactory, templates: ProjectTemplates
) -> tuple[ProjectPaths, Any]:
    """A tiny project whose registry holds @champion (version 1) and a @challenger waiting for votes (2).

    Built once per session and copied to each worker that asks, for the describe, serving and studio tests
    (the studio's browser test, the last to run, promotes version 2 in its copy).
    """
    from tests.support.studio import champion_and_waiting_challenger, human_gate_params

    built = templates.built("studio", lambda root: champion_and_waiting_challenger(root, templates))
    paths = copy_project(built, tmp_path_factory.mktemp("studio") / "project")
    return paths, parse_params(human_gate_params())


@pytest.fixture(scope="session")
def prefect_database(templates: ProjectTemplates) -> Path:
    """A migrated Prefect database, made once per session: copied into each new Prefect home a test starts."""
    from tests.support.services import PREFECT_DATABASE, migrate_prefect_database

    return templates.built("prefect-home", migrate_prefect_database) / PREFECT_DATABASE


@pytest.fixture(scope="session")
def inception() -> Any:
    """The FID network, loaded once per test session."""
    from t2igan.vision.inception import InceptionFeatures

    return InceptionFeatures()


@pytest.fixture(scope="session")
def reference_features(templates: ProjectTemplates) -> dict[str, Any]:
    """Inception features of each torch-fidelity reference set (extracted once per session, whichever worker
    asks first: the FID and the KID tests read them)."""
    import numpy as np

    from t2igan.metrics.features import extract
    from t2igan.vision.inception import InceptionFeatures
    from tests.support.fid_reference import SETS, batches, load_set

    def build(directory: Path) -> None:
        directory.mkdir()
        network = InceptionFeatures()
        for name in SETS:
            np.save(directory / f"{name}.npy", extract(network, batches(load_set(name))))

    built = templates.built("fid-reference-features", build)
    return {name: np.load(built / f"{name}.npy") for name in SETS}


@pytest.fixture(scope="session")
def tiny_vision_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny random model of each vision family (tests/support/tiny_vision.py), saved once per session."""
    from tests.support.tiny_vision import KINDS, build

    where = tmp_path_factory.mktemp("tiny-vision")
    return {kind: build(kind, where) for kind in KINDS}
