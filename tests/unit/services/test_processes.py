"""Pid-file processes: started once, found again, told from a stranger with the same pid, stopped whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from t2igan.errors import TransientError
from t2igan.services import processes

SLEEPER = [
    sys.executable,
    "-c",
    "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
    "'import time; time.sleep(600)']); time.sleep(600)",
]


def _marker(path: Path) -> processes.Health:
    return path.exists


def test_start_records_the_process_and_a_second_start_leaves_it_alone(tmp_path: Path) -> None:
    pid_file, log = tmp_path / "pids" / "s.json", tmp_path / "logs" / "s.log"
    healthy = tmp_path / "healthy"
    healthy.touch()
    try:
        assert processes.start("s", SLEEPER, os.environ, pid_file, log, _marker(healthy)) is True
        first = processes.running(pid_file)
        assert first is not None and first.command == SLEEPER

        assert processes.start("s", SLEEPER, os.environ, pid_file, log, _marker(healthy)) is False
        again = processes.running(pid_file)
        assert again is not None and again.pid == first.pid
    finally:
        processes.stop("s", pid_file)


def test_stop_ends_the_process_and_what_it_started(tmp_path: Path) -> None:
    pid_file, log = tmp_path / "s.json", tmp_path / "s.log"
    processes.start("s", SLEEPER, os.environ, pid_file, log, lambda: True)
    leader = processes.running(pid_file)
    assert leader is not None
    time.sleep(0.5)  # the child is started
    children = subprocess.run(["pgrep", "-s", str(leader.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) == 2  # the leader and its child, in one session

    assert processes.stop("s", pid_file) is True

    assert not pid_file.exists()
    assert not processes.group_alive(leader.pid)
    assert processes.stop("s", pid_file) is False  # nothing left to stop


def test_a_pid_file_naming_another_program_is_not_a_running_service(tmp_path: Path) -> None:
    # Given a pid file whose pid now belongs to a stranger (this test process)
    pid_file = tmp_path / "s.json"
    pid_file.write_text(json.dumps({"pid": os.getpid(), "command": ["moto_server", "-p", "1"]}))

    # Then the service does not count as running, and stopping it does not signal the stranger
    assert processes.running(pid_file) is None
    assert processes.stop("s", pid_file) is False
    assert not pid_file.exists()


def test_a_process_that_dies_while_starting_fails_with_its_log(tmp_path: Path) -> None:
    pid_file, log = tmp_path / "s.json", tmp_path / "s.log"
    command = [sys.executable, "-c", "import sys; print('port 5000 is in use'); sys.exit(3)"]

    with pytest.raises(TransientError, match=r"exited while starting(.|\n)*port 5000 is in use"):
        processes.start("s", command, os.environ, pid_file, log, lambda: False, timeout=30)

    assert not pid_file.exists()


def test_a_process_never_healthy_is_stopped_after_the_timeout(tmp_path: Path) -> None:
    pid_file, log = tmp_path / "s.json", tmp_path / "s.log"

    with pytest.raises(TransientError, match="not healthy after 2s"):
        processes.start("s", SLEEPER, os.environ, pid_file, log, lambda: False, timeout=2)

    assert processes.running(pid_file) is None and not pid_file.exists()
