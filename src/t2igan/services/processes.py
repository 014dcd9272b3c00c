"""Long-running processes with a pid file: started detached, found again by the next command, stopped whole.

A pid file alone can lie (the process died and its number was reused), so a recorded process counts as
running only when that pid is alive and its command line is still the one recorded. Each process leads its
own session, so stopping it stops what it started too (uvicorn workers, a worker's flow runs).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from t2igan.errors import TransientError
from t2igan.io import write_json

log = logging.getLogger(__name__)

Health = Callable[[], bool]


@dataclass(frozen=True)
class Recorded:
    pid: int
    command: list[str]

    def alive(self) -> bool:
        """The pid exists and still runs the recorded command (not a stranger that reused the number).

        A script's command line starts with its interpreter (the kernel reads the `#!` line), so the recorded
        command is compared with the end of it. A zombie's command line is empty: not alive.
        """
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        parts = [part.decode(errors="replace") for part in cmdline if part]
        return len(parts) >= len(self.command) and parts[len(parts) - len(self.command) :] == self.command


def recorded(pid_file: Path) -> Recorded | None:
    try:
        raw = json.loads(pid_file.read_text())
        return Recorded(int(raw["pid"]), [str(part) for part in raw["command"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running(pid_file: Path) -> Recorded | None:
    found = recorded(pid_file)
    return found if found is not None and found.alive() else None


def _healthy(check: Health) -> bool:
    try:
        return check()
    except Exception:  # a server that is starting refuses connections, resets them, answers 503
        return False


def wait_until(check: Health, what: str, log_file: Path, timeout: float, alive: Health) -> None:
    """Wait for `check`; fail with the log's tail if the process exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _healthy(check):
            return
        if not alive():
            raise TransientError(f"{what} exited while starting; its log {log_file} ends:\n{_tail(log_file)}")
        time.sleep(0.5)
    raise TransientError(
        f"{what} not healthy after {timeout:.0f}s; its log {log_file} ends:\n{_tail(log_file)}"
    )


def _tail(log_file: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(
    name: str,
    command: list[str],
    env: Mapping[str, str],
    pid_file: Path,
    log_file: Path,
    health: Health,
    timeout: float = 120,
) -> bool:
    """Start `command` unless it already runs and is healthy; True when it was started now."""
    found = running(pid_file)
    if found is not None and _healthy(health):
        log.info("%s already running (pid %d)", name, found.pid)
        return False
    if found is not None:
        stop(name, pid_file)  # running but not answering: start it afresh
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        process = subprocess.Popen(
            command, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    since = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_json(pid_file, {"pid": process.pid, "command": command, "since": since})
    try:
        wait_until(health, name, log_file, timeout, alive=lambda: process.poll() is None)
    except TransientError:
        stop(name, pid_file)
        raise
    log.info("%s started (pid %d), log %s", name, process.pid, log_file)
    return True


def stop(name: str, pid_file: Path, grace: float = 20) -> bool:
    """Stop the recorded process and its session (TERM, then KILL after `grace`); True if one was running.

    It returns when the whole process group is gone, so the ports its children held are free again.
    """
    found = running(pid_file)
    pid_file.unlink(missing_ok=True)
    if found is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(found.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while group_alive(found.pid) and time.monotonic() < deadline:
        _reap(found.pid)
        time.sleep(0.2)
    if group_alive(found.pid):
        log.warning("%s (pid %d) ignored SIGTERM for %.0fs; killing it", name, found.pid, grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(found.pid, signal.SIGKILL)
    _reap(found.pid)
    log.info("%s stopped (pid %d)", name, found.pid)
    return True


def group_alive(group: int) -> bool:
    """Whether any process of the group still runs (zombies, which only wait to be collected, do not)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == group:
            return True
    return False


def _reap(pid: int) -> None:
    """Collect the exit of a child this process started (a zombie still has a /proc entry)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
