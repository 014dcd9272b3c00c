"""Two pipelines finishing at once, as real processes against one sqlite registry: the lock keeps the best.

A slow champion read (a fault injected into our own code) widens the window between reading the champion
and moving the alias.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import mlflow

from t2igan.registry.aliases import METRICS_TAG
from tests.support.project import empty_mlflow_store, tiny_params_dict, write_project

RACER = """
import sys, time
from pathlib import Path
import mlflow
from t2igan.config import RegisterParams
from t2igan.paths import ProjectPaths
from t2igan.registry import promotion

uri, root, version, fid, locked, start_delay, go = sys.argv[1:]
client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
client.search_registered_models()  # connect (and check the schema) before the start line
Path(go + "." + version).touch()  # ready
while not Path(go).exists():
    time.sleep(0.01)
time.sleep(float(start_delay))
read = promotion.current_champion
def slow_read(client, name):
    champion = read(client, name)
    time.sleep(2.0)  # far longer than the 0.3 s between the racers' starts, even on a loaded machine
    return champion
promotion.current_champion = slow_read
if locked == "no":
    import contextlib
    promotion.promotion_lock = lambda paths, name: contextlib.nullcontext()
metrics = {"fid_name": "fid_1k", "fid_1k": float(fid)}
promotion.promote_if_better(client, ProjectPaths.at(root), "m", version, metrics, RegisterParams())
"""


def _registry_with_champion(root: Path) -> tuple[str, mlflow.MlflowClient]:
    uri = empty_mlflow_store(root / "mlruns")
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("m")
    for fid in (60.0, 50.0, 40.0):
        version = client.create_model_version("m", source=str(root))
        client.set_model_version_tag(
            "m", version.version, METRICS_TAG, json.dumps({"fid_name": "fid_1k", "fid_1k": fid})
        )
    client.set_registered_model_alias("m", "champion", "1")
    return uri, client


def _race(tmp_path: Path, locked: str) -> str:
    root = write_project(tmp_path / "project", tiny_params_dict()).root
    uri, client = _registry_with_champion(root)
    go = tmp_path / "go"
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, uri, str(root), "3", "40", locked, "0", str(go)]),
        subprocess.Popen([sys.executable, "-c", RACER, uri, str(root), "2", "50", locked, "0.3", str(go)]),
    ]
    deadline = time.monotonic() + 120
    while not all(go.with_name(f"go.{v}").exists() for v in ("2", "3")):  # both at the start line
        assert time.monotonic() < deadline and all(r.poll() is None for r in racers)
        time.sleep(0.05)
    go.touch()
    assert [r.wait(timeout=120) for r in racers] == [0, 0]
    return str(client.get_model_version_by_alias("m", "champion").version)


def test_concurrent_promotions_never_leave_the_worse_champion(tmp_path: Path) -> None:
    assert _race(tmp_path, "yes") == "3"


def test_without_the_lock_the_race_is_real(tmp_path: Path) -> None:
    # Why the lock exists: unserialised, the slower pipeline compares against the stale champion and wins.
    assert _race(tmp_path, "no") == "2"
