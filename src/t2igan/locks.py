"""One writer per project: a stage holds the project's lock while it runs, and a second one is refused.

Two `t2igan train` in one project would delete each other's checkpoints and overwrite each other's model;
DVC's own lock covers `dvc repro` only, not a stage run by hand. The lock is an OS file lock (`filelock`),
released when its holder exits however it exits; beside it, the holder writes who it is, so that the one
refused can say which command is running. Under torchrun only rank 0 writes, so only rank 0 locks; and when
`t2igan train` started the ranks itself (t2igan.training.launch), the launcher holds the lock for them.
A run of the training flow holds it for all its stages (flows/training.py): its overrides are the project's
for the whole run, so a second run waits for the first instead of swapping them mid-run.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

from filelock import FileLock, Timeout

from t2igan.env import LOCKED_PROJECT_ENV
from t2igan.errors import TransientError
from t2igan.io import write_json
from t2igan.paths import ProjectPaths

LOCK_FILE = ".t2igan.lock"
HOLDER_FILE = ".t2igan.lock.json"


def _holder(paths: ProjectPaths) -> str:
    try:
        holder = json.loads((paths.root / HOLDER_FILE).read_text())
        return f"`t2igan {holder['stage']}` (pid {holder['pid']} on {holder['host']}, since {holder['since']})"
    except (OSError, ValueError, KeyError):
        return "another t2igan stage"


@contextlib.contextmanager
def project_lock(
    paths: ProjectPaths, stage: str, wait: bool = False, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the project for `stage`, or fail at once (transient: exit 75) naming the stage that holds it.

    `wait`: wait for the holder to finish instead (a flow run waits for another; `on_wait` hears who holds it).
    What the holder starts (its stages, its torchrun ranks) runs with LOCKED_PROJECT_ENV naming the project
    and does not lock again.
    """
    if int(os.environ.get("RANK", "0")) != 0:  # torchrun's other ranks compute; rank 0 holds the lock
        yield
        return
    if os.environ.get(LOCKED_PROJECT_ENV) == str(paths.root):  # the launcher of these ranks holds it
        yield
        return
    paths.root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(paths.root / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        if not wait:
            raise TransientError(
                f"{paths.root}: {_holder(paths)} is writing this project; wait for it to finish (or stop it) "
                f"and run `t2igan {stage}` again"
            ) from None
        if on_wait is not None:
            on_wait(f"{paths.root}: waiting for {_holder(paths)} to finish")
        lock.acquire(timeout=-1, poll_interval=0.5)
    try:
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json(
            paths.root / HOLDER_FILE,
            {"stage": stage, "pid": os.getpid(), "host": socket.gethostname(), "since": since},
        )
        yield
    finally:
        (paths.root / HOLDER_FILE).unlink(missing_ok=True)
        lock.release()
