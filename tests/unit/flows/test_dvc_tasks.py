"""The flow's DVC tasks: which failures are retried, the one line that says why, the stage's own status."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from flows.dvc_tasks import (
    PROGRESS_ENV,
    StageFailed,
    reason,
    retry_if_transient,
    retry_unless_timed_out,
    run_dvc,
    stage_ran,
)
from t2igan.env import PROGRESS_LINES_ENV as LINES_ENV
from t2igan.errors import EXIT_BAD_INPUT, EXIT_TRANSIENT
from t2igan.progress import ProgressLine
from tests.support.project import dvc, tiny_params_dict, write_project


class _State:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def result(self) -> Any:
        if self.error:
            raise self.error
        return {}


def test_only_transient_failures_are_retried() -> None:
    assert retry_if_transient(None, None, _State(StageFailed("train", EXIT_TRANSIENT, "server down")))
    assert not retry_if_transient(None, None, _State(StageFailed("validate", EXIT_BAD_INPUT, "bad rows")))
    assert retry_if_transient(None, None, _State(StageFailed("train", 255, "locked", transient=True)))
    assert not retry_if_transient(None, None, _State(RuntimeError("a bug")))
    assert not retry_if_transient(None, None, _State(None))
    failed = StageFailed("validate", EXIT_BAD_INPUT, "10 of 10 rows rejected")
    assert str(failed) == "stage 'validate' failed (exit code 2): 10 of 10 rows rejected"


def test_transfers_are_retried_on_any_failure_but_their_timeout() -> None:
    assert retry_unless_timed_out(None, None, _State(StageFailed("dvc push", 1, "remote down", transient=True)))
    assert retry_unless_timed_out(None, None, _State(RuntimeError("connection reset")))
    assert not retry_unless_timed_out(None, None, _State(TimeoutError("past its limit")))
    assert not retry_unless_timed_out(None, None, _State(None))


def test_the_reason_is_t2igan_s_one_line_error_else_dvc_s() -> None:
    output = "Running stage 'validate':\nt2igan validate: error: 3 of 3 rows rejected\nERROR: failed"
    assert reason(output) == "t2igan validate: error: 3 of 3 rows rejected"
    assert reason("something\nERROR: failed to reproduce 'train'\n") == "ERROR: failed to reproduce 'train'"
    assert reason("last words\n") == "last words" and reason("") == "no output"


def test_progress_bars_redraw_at_most_every_fifteen_seconds_and_stages_print_progress_lines() -> None:
    # tqdm reads its defaults from TQDM_* variables; t2igan.progress its line interval from its own
    assert PROGRESS_ENV == {"TQDM_MININTERVAL": "15", LINES_ENV: "3"}


@pytest.mark.integration
def test_a_stage_s_progress_lines_are_read_back_and_kept_out_of_the_log(tmp_path: Path) -> None:
    project = write_project(tmp_path, tiny_params_dict()).root
    script = (
        "from t2igan.progress import tracked\n"
        "for _ in tracked(range(5), 'demo', 'counting', 5): pass\n"
        "print('stage output')\n"
    )
    (project / "count.py").write_text(script)
    (project / "dvc.yaml").write_text(f"stages:\n  demo:\n    cmd: {sys.executable} count.py\n")
    dvc(project, "init", "-q", "--no-scm")

    done = run_dvc(["repro", "--single-item", "demo"], str(project), "demo")

    assert done.code == 0, done.output
    assert done.progress == [ProgressLine("demo", "counting", 5, 5)]
    assert "stage output" in done.output and "t2igan-progress" not in done.output


@pytest.mark.integration
def test_whether_a_stage_ran_comes_from_what_dvc_repro_printed(tmp_path: Path) -> None:
    project = write_project(tmp_path, tiny_params_dict()).root
    (project / "dvc.yaml").write_text(
        "stages:\n  hello:\n    cmd: echo hi > out.txt\n    outs:\n      - out.txt\n"
    )
    dvc(project, "init", "-q", "--no-scm")

    def repro() -> bool:
        done = run_dvc(["repro", "--single-item", "hello"], str(project), "hello")
        assert done.code == 0, done.output
        return stage_ran("hello", done.output)

    assert repro()  # never run: its output was missing
    assert not repro()  # up to date
    (project / "dvc.yaml").write_text(
        "stages:\n  hello:\n    cmd: echo bye > out.txt\n    outs:\n      - out.txt\n"
    )
    assert repro()  # its command changed
