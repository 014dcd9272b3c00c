"""The flow's time limits: which tasks they name, and a stage past its limit stopped, failed and reported."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from flows.timeouts import DEFAULT_TIMEOUTS, task_timeouts
from t2igan.errors import ConfigError
from tests.support.project import VENV_BIN, dvc_project, run_tool, tiny_params_dict, tool_env
from tests.support.services import PREFECT_DATABASE


def test_pull_and_push_are_bounded_by_default_and_stages_only_when_given() -> None:
    assert task_timeouts(None) == DEFAULT_TIMEOUTS == {"pull": 3600.0, "push": 3600.0}
    assert task_timeouts({"train": 7200, "push": 60}) == {"pull": 3600.0, "push": 60.0, "train": 7200.0}


@pytest.mark.parametrize(
    ("given", "message"),
    [({"trian": 5}, "timeout trian: not a task of the flow"), ({"push": 0}, "not a positive number")],
)
def test_a_bad_timeout_is_refused_in_one_line(given: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        task_timeouts(given)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "zombie" not in state


@pytest.mark.integration
def test_a_stage_past_its_timeout_is_stopped_and_the_run_fails_naming_it(
    tmp_path: Path, prefect_database: Path
) -> None:
    # Given a project whose first stage hangs (it writes its pid, then sleeps for ten minutes)
    root = dvc_project(tmp_path / "project", tiny_params_dict())
    hang = "import os, time; open('hung.pid', 'w').write(str(os.getpid())); time.sleep(600)"
    stage = f'  scan:\n    cmd: {sys.executable} -c "{hang}"\n    always_changed: true\n'
    (root / "dvc.yaml").write_text("stages:\n" + stage)
    home = tmp_path / "prefect"
    home.mkdir()
    shutil.copy2(prefect_database, home / PREFECT_DATABASE)

    # When the flow runs with a 3-second limit on that stage
    started = time.monotonic()
    command = [str(VENV_BIN / "t2igan"), "flow", "run", "--json", "--timeout", "scan=3"]
    done = run_tool(command, root, tool_env(PREFECT_HOME=str(home)), timeout=300)

    # Then the run fails at once (not after ten minutes), naming the stage and its limit, in the CLI's one
    # line and in the flow run's log (the failure hook), and the stage's process is gone
    assert done.returncode != 0
    assert time.monotonic() - started < 300
    assert "stage 'scan' failed (exit code None): timed out after 3 s (its timeout)" in done.stderr, done.stderr
    assert "failed in stage scan: timed out after 3 s" in done.stderr + done.stdout
    pid = int((root / "hung.pid").read_text())
    deadline = time.monotonic() + 30
    while _alive(pid):
        assert time.monotonic() < deadline, f"the hung stage (pid {pid}) still runs"
        time.sleep(0.2)
