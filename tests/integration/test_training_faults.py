"""`t2igan train` as real processes under the faults a user meets: a second writer, a kill, a full disk."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import mlflow
import pytest

from t2igan.config import parse_params
from t2igan.io import read_json
from t2igan.paths import ProjectPaths
from t2igan.training.checkpoint import CheckpointManager
from tests.support.project import VENV_BIN, run_stages, tiny_params_dict, tool_env, write_project
from tests.support.templates import ProjectTemplates

pytestmark = pytest.mark.slow
LONG = {"train": {"steps": 400, "checkpoint_every": 200, "log_every": 50, "sample_every": 400}}


def _embedded(templates: ProjectTemplates, root: Path, **sections: object) -> ProjectPaths:
    return templates.project(root, tiny_params_dict(LONG, **sections), "ingest", "validate", "embed")


def _train(paths: ProjectPaths) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(VENV_BIN / "t2igan"), "train"],
        cwd=paths.root,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _runs(paths: ProjectPaths) -> dict[str, str]:
    uri = f"sqlite:///{paths.mlruns / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("t2igan")
    assert experiment is not None
    return {run.info.run_id: run.info.status for run in client.search_runs([experiment.experiment_id])}


def test_a_second_train_in_the_same_project_is_refused_at_once_naming_the_first(
    tmp_path: Path, templates: ProjectTemplates
) -> None:
    paths = _embedded(templates, tmp_path / "project")
    first = _train(paths)
    _wait_for(paths.root / ".t2igan.lock.json", first)
    started = time.monotonic()
    second = subprocess.run(
        [str(VENV_BIN / "t2igan"), "train", "--params", "params.yaml"],
        cwd=paths.root,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 75 and time.monotonic() - started < 60
    errors = [line for line in second.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and f"`t2igan train` (pid {first.pid}" in errors[0], second.stderr[-2000:]
    assert "is writing this project" in errors[0] and "Traceback" not in second.stderr
    first.send_signal(signal.SIGINT)  # enough: the first kept its project
    first.wait(timeout=120)


def test_a_run_killed_before_its_first_checkpoint_is_marked_killed_on_the_next_start(
    tmp_path: Path, templates: ProjectTemplates
) -> None:
    paths = _embedded(templates, tmp_path / "project")
    killed = _train(paths)
    _wait_for(paths.checkpoints_dir / "run.json", killed)
    abandoned = read_json(paths.checkpoints_dir / "run.json")["run_id"]
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    assert _runs(paths) == {abandoned: "RUNNING"} and not list(paths.checkpoints_dir.glob("*.pt"))

    raw = tiny_params_dict(LONG, train={"steps": 8})
    write_project(paths.root, raw)  # a short run this time: any next start does the clean-up
    done = subprocess.run(
        [str(VENV_BIN / "t2igan"), "train"], cwd=paths.root, env=tool_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = _runs(paths)
    assert runs.pop(abandoned) == "KILLED" and list(runs.values()) == ["FINISHED"]
    assert f"run {abandoned} stopped before a checkpoint" in done.stderr


def test_a_full_disk_stops_training_in_one_line_with_the_transient_code(
    tmp_path: Path, templates: ProjectTemplates
) -> None:
    measure = _embedded(templates, tmp_path / "measure", train={"steps": 4, "checkpoint_every": 4})
    run_stages(
        parse_params(tiny_params_dict(LONG, train={"steps": 4, "checkpoint_every": 4})), measure, "train"
    )
    size = (measure.checkpoints_dir / "ckpt-00000004.pt").stat().st_size
    paths = _embedded(templates, tmp_path / "project", train={"steps": 12, "checkpoint_every": 4})
    paths.checkpoints_dir.mkdir(parents=True)
    mount = ["mount", "-t", "tmpfs", "-o", f"size={int(size * 1.6)}", "tmpfs", str(paths.checkpoints_dir)]
    if subprocess.run(mount).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        done = subprocess.run(
            [str(VENV_BIN / "t2igan"), "train"], cwd=paths.root, env=tool_env(), capture_output=True, text=True
        )
        assert done.returncode == 75, done.stderr[-3000:]
        errors = [line for line in done.stderr.splitlines() if ": error: " in line]
        assert errors == [
            f"t2igan train: error: no space left on {paths.checkpoints_dir} to write ckpt-00000008.pt "
            f"({size / 2**20:.0f} MB); the earlier checkpoints are intact"
        ]
        assert "Traceback" not in done.stderr
        found = CheckpointManager(paths.checkpoints_dir, keep_last=3).newest_intact()
        assert found is not None and found[1]["step"] == 4
    finally:
        subprocess.run(["umount", str(paths.checkpoints_dir)])
