"""The promotion policy, decided on metrics alone."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from t2igan.config import RegisterParams
from t2igan.registry.promotion import METRICS_TAG, decide

POLICY = RegisterParams(fid_margin=1.0, alignment_tolerance=0.01)


def _m(fid: float, alignment: float | None = None, name: str = "fid_1k") -> dict:
    out = {"fid_name": name, name: fid}
    if alignment is not None:
        out["alignment"] = alignment
    return out


def test_first_version_is_promoted() -> None:
    assert decide(_m(50, 0.5), None, POLICY).promote


def test_better_fid_by_the_margin_and_no_worse_alignment_is_promoted() -> None:
    decision = decide(_m(40, 0.6), _m(50, 0.6), POLICY)
    assert decision.promote and "fid_1k 40.000 < 50.000 - 1" in decision.reason


def test_fid_within_the_margin_is_not_enough() -> None:
    decision = decide(_m(49.5, 0.9), _m(50, 0.5), POLICY)
    assert not decision.promote and "does not beat" in decision.reason


def test_worse_alignment_blocks_promotion_even_with_better_fid() -> None:
    decision = decide(_m(10, 0.40), _m(50, 0.50), POLICY)
    assert not decision.promote and "alignment 0.400 is worse" in decision.reason
    assert decide(_m(10, 0.495), _m(50, 0.50), POLICY).promote  # within the tolerance


def test_fids_at_different_sample_counts_are_not_compared() -> None:
    decision = decide(_m(10, 0.9, name="fid_1k"), _m(50, 0.1, name="fid_2k"), POLICY)
    assert not decision.promote and "not comparable" in decision.reason


# Two pipelines finishing at once, run as real processes against one sqlite registry. A slow champion
# read (an injected fault) widens the window between reading the champion and moving the alias.
RACER = """
import sys, time
from pathlib import Path
import mlflow
import json
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from t2igan.config import RegisterParams
from t2igan.registry import promotion

uri, version, fid, lock_dir, start_delay, go = sys.argv[1:]
client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
client.search_registered_models()  # connect (and check the schema) before the start line
Path(go + "." + version).touch()  # ready
while not Path(go).exists():
    time.sleep(0.01)
time.sleep(float(start_delay))
read = promotion.current_champion
def slow_read(client, name):
    champion = read(client, name)
    time.sleep(1.0)
    return champion
promotion.current_champion = slow_read
metrics = {"fid_name": "fid_1k", "fid_1k": float(fid)}
promotion.promote_if_better(client, "m", version, metrics, RegisterParams(),
                            None if lock_dir == "-" else Path(lock_dir))
"""


def _registry_with_champion(tmp_path: Path) -> tuple[str, mlflow.MlflowClient]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("m")
    for fid in (60.0, 50.0, 40.0):
        version = client.create_model_version("m", source=str(tmp_path))
        client.set_model_version_tag(
            "m", version.version, METRICS_TAG, json.dumps({"fid_name": "fid_1k", "fid_1k": fid})
        )
    client.set_registered_model_alias("m", "champion", "1")
    return uri, client


def _race(tmp_path: Path, lock_dir: str) -> str:
    uri, client = _registry_with_champion(tmp_path)
    go = tmp_path / "go"
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, uri, "3", "40", lock_dir, "0", str(go)]),
        subprocess.Popen([sys.executable, "-c", RACER, uri, "2", "50", lock_dir, "0.3", str(go)]),
    ]
    deadline = time.monotonic() + 120
    while not all(go.with_name(f"go.{v}").exists() for v in ("2", "3")):  # both at the start line
        assert time.monotonic() < deadline and all(r.poll() is None for r in racers)
        time.sleep(0.05)
    go.touch()
    assert [r.wait(timeout=120) for r in racers] == [0, 0]
    return str(client.get_model_version_by_alias("m", "champion").version)


@pytest.mark.integration
def test_concurrent_promotions_never_leave_the_worse_champion(tmp_path) -> None:
    assert _race(tmp_path, str(tmp_path)) == "3"


@pytest.mark.integration
def test_without_the_lock_the_race_is_real(tmp_path) -> None:
    # Why the lock exists: unserialised, the slower pipeline compares against the stale champion and wins.
    assert _race(tmp_path, "-") == "2"
