"""The whole pipeline on a tiny config through real Prefect, real DVC and a real MLflow sqlite store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml

from conftest import VENV_BIN, copy_project_files, tiny_params_dict
from t2igan.env import OFFLINE_DEFAULTS

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _env(project: Path) -> dict[str, str]:
    env = {**os.environ, **OFFLINE_DEFAULTS}
    env.pop("MLFLOW_TRACKING_URI", None)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PREFECT_HOME"] = str(project / ".prefect")  # its own Prefect database and settings
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
    return env


def _run(command: list[str], project: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    done = subprocess.run(
        command, cwd=project, env=_env(project), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def _flow(project: Path) -> dict:
    summary = project / "summary.json"
    _run([sys.executable, "-m", "flows.training", "--summary-json", str(summary)], project)
    return json.loads(summary.read_text())


def _ran(summary: dict) -> set[str]:
    return {s["stage"] for s in summary["stages"] if s["ran"]}


@pytest.fixture(scope="module")
def dvc_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("e2e") / "project"
    project.mkdir()
    copy_project_files(project)
    (project / "params.yaml").write_text(yaml.safe_dump(tiny_params_dict(), sort_keys=False))
    (project / ".gitignore").write_text("mlruns/\n.prefect/\n.t2igan-cache/\nsummary.json\n")
    _run(["git", "init", "-q"], project)
    _run([str(VENV_BIN / "dvc"), "init", "-q"], project)
    _run(["git", "add", "-A"], project)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "project"], project)
    return project


def test_flow_runs_every_stage_and_registers_a_champion(dvc_project: Path) -> None:
    summary = _flow(dvc_project)
    assert _ran(summary) == {"ingest", "validate", "embed", "train", "evaluate", "register"}
    assert summary["version"] == "1" and summary["promoted"] is True
    assert summary["fid_name"] == "fid_24" and summary["fid"] > 0
    assert set(summary["attr_acc_heldout"]) >= {"color", "shape", "mean"}
    assert Path(summary["sample_grid"]).read_bytes().startswith(b"\x89PNG")

    uri = f"sqlite:///{dvc_project / 'mlruns' / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version_by_alias("t2igan", "champion")
    assert str(version.version) == "1"
    assert version.tags["lineage.git_dirty"] == "false"
    run = client.get_run(summary["run_id"])
    assert run.data.metrics["fid_24"] == pytest.approx(summary["fid"])
    assert any(a.path.startswith("samples") for a in client.list_artifacts(run.info.run_id))

    # Lineage leads back to exactly the data DVC recorded: the tags are dvc.lock's output hashes.
    lock = yaml.safe_load((dvc_project / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"ingest", "validate", "embed", "train", "evaluate", "register"}
    for stage, out in (("validate", "data/clean"), ("embed", "data/embeddings"), ("ingest", "data/ingest")):
        locked = next(o["md5"] for o in lock["stages"][stage]["outs"] if o["path"] == out)
        assert version.tags[f"lineage.dvc.{stage}_md5"] == locked
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=dvc_project, capture_output=True, text=True).stdout
    assert version.tags["lineage.git_commit"] == head.strip()


def test_second_run_with_nothing_changed_runs_nothing(dvc_project: Path) -> None:
    checkpoint_times = {
        p: p.stat().st_mtime_ns for p in (dvc_project / "artifacts/train/checkpoints").iterdir()
    }
    summary = _flow(dvc_project)
    assert _ran(summary) == set()
    assert summary["version"] == "1"
    assert {
        p: p.stat().st_mtime_ns for p in (dvc_project / "artifacts/train/checkpoints").iterdir()
    } == checkpoint_times
    done = _run([str(VENV_BIN / "dvc"), "repro"], dvc_project)
    assert "Running stage" not in done.stdout


def test_changing_an_evaluation_param_reruns_only_evaluate_and_register(dvc_project: Path) -> None:
    params = yaml.safe_load((dvc_project / "params.yaml").read_text())
    params["evaluate"]["seed"] = 99
    (dvc_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    done = _run([str(VENV_BIN / "dvc"), "repro"], dvc_project)
    ran = {line.split("'")[1] for line in done.stdout.splitlines() if line.startswith("Running stage")}
    assert ran == {"evaluate", "register"}
    registered = json.loads((dvc_project / "metrics" / "register.json").read_text())
    assert registered["version"] == "2"
