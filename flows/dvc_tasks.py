"""The flow's DVC tasks: one per pipeline stage (`dvc repro --single-item`), and the pull and push around them.

Retries are for trouble that can pass, never for bad input. A stage is retried when its CLI exits with 75
(EX_TEMPFAIL: I/O, a tracking server briefly down) or DVC could not take its repository lock (another DVC
process is running); a stage that exits with 2 (bad data, bad params) fails the run at once, with the stage's
own one-line reason in the state message. Pull and push move data over the network, so their failures are
retried too; a pull that fetched everything but would not overwrite outputs changed in the workspace (say,
the checkpoints of an interrupted training, kept for resuming) is a warning, not a failure: the stages then
decide, from dvc.lock, what to rebuild.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.exceptions import MissingContextError
from prefect.logging import get_logger

from flows.stage_progress import ProgressArtifacts
from t2igan.env import DASK_SCHEDULER_ENV, LOCKED_PROJECT_ENV, PROGRESS_LINES_ENV, script, subprocess_env
from t2igan.errors import EXIT_TRANSIENT
from t2igan.progress import ProgressLine

_EXIT_CODE = re.compile(r"exited with (\d+)")
_STAGE_TIME = re.compile(r"^t2igan (\w+): done in ([0-9.]+)s$", re.MULTILINE)
_LOCKED = "Unable to acquire lock"
_UNSAVED = "without confirmation"  # dvc checkout refusing to replace outputs changed in the workspace
# Progress bars (the stages', DVC's own) redraw at most this often: a line in the task log each time. The
# stages' progress lines (t2igan.progress), every few seconds, become the task's progress artifacts.
PROGRESS_ENV = {"TQDM_MININTERVAL": "15", PROGRESS_LINES_ENV: "3"}
RETRY_DELAYS: list[float] = [5, 30]
STOP_SECONDS = 30.0  # a stopped command's grace before it is killed


class StageFailed(RuntimeError):
    """A DVC stage (or pull/push) failed; `transient` says whether running it again could help."""

    def __init__(self, stage: str, exit_code: int | None, reason: str, transient: bool | None = None) -> None:
        self.stage = stage
        self.exit_code = exit_code
        self.reason = reason
        self.transient = exit_code == EXIT_TRANSIENT if transient is None else transient
        super().__init__(f"stage '{stage}' failed (exit code {exit_code}): {reason}")


@dataclass(frozen=True)
class DvcOutput:
    code: int
    output: str  # without the stages' progress lines
    seconds: float
    progress: list[ProgressLine]  # each phase's last progress line


def _logger() -> Any:
    """The task's run logger (shown in the Prefect UI); a plain one when called outside a run."""
    try:
        return get_run_logger()
    except MissingContextError:
        return get_logger("t2igan.flows")


def _lines(process: subprocess.Popen[str]) -> Iterator[str]:
    """The process's output lines, read by a thread: the caller waits on a queue, in short waits, so that a
    task's timeout (raised into this thread by Prefect) interrupts it even while the tool prints nothing."""
    assert process.stdout is not None
    stream = process.stdout
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in stream:  # text mode turns progress bars' carriage returns into lines
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            return
        yield line


def _stop_group(process: subprocess.Popen[str]) -> None:
    """Stop the command and everything it started (DVC's stage, its torchrun ranks): its process group."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_dvc(args: list[str], project_dir: str, label: str, env: dict[str, str] | None = None) -> DvcOutput:
    """Run a DVC command, streaming its output to the task log; stopped with all it started if the task
    is interrupted (a timeout, a cancellation)."""
    logger = _logger()
    started = time.perf_counter()
    process = subprocess.Popen(
        [script("dvc"), *args],
        cwd=project_dir,
        env=subprocess_env(overrides={**PROGRESS_ENV, **(env or {})}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,  # its own process group, stopped whole
    )
    lines: list[str] = []
    progress = ProgressArtifacts()
    try:
        for line in _lines(process):
            if progress.feed(line):
                continue
            lines.append(line)
            if line.strip():
                logger.info("%s | %s", label, line.rstrip())
        code = process.wait()
    finally:
        _stop_group(process)
    return DvcOutput(code, "".join(lines), time.perf_counter() - started, list(progress.latest.values()))


def stage_ran(stage: str, output: str) -> bool:
    """Whether `dvc repro` ran the stage, from what it printed ("Running stage"; a skipped one "didn't change").

    Reading repro's own output, rather than asking `dvc status` first, saves a DVC start per stage per run.
    """
    return f"Running stage '{stage}'" in output


def reason(output: str) -> str:
    """The most telling line of a failed command's output: the t2igan one-line error, else DVC's."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for pattern in (r"^t2igan \w+: error: ", r"^ERROR"):
        found = [line for line in lines if re.match(pattern, line)]
        if found:
            return found[0]
    return lines[-1] if lines else "no output"


def _failure(state: Any) -> Exception | None:
    """What a finished task run raised, or None when it did not fail."""
    try:
        state.result()
    except Exception as exc:
        return exc
    return None


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Stages are retried only when their failure can pass (StageFailed.transient)."""
    failure = _failure(state)
    return isinstance(failure, StageFailed) and failure.transient


@task(
    task_run_name="dvc-{stage}",
    retries=len(RETRY_DELAYS),
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_if_transient,
)
def run_stage(
    stage: str, project_dir: str, lock_held: bool = False, dask_scheduler: str | None = None
) -> dict[str, Any]:
    """`dvc repro --single-item <stage>`: whether it ran or was up to date, its task time and its own time.

    `lock_held`: the flow holds the project's lock for its whole run, so the stage must not take it again.
    `dask_scheduler`: the data stages send their tasks to this Dask cluster (t2igan.data.tasks).
    """
    env = {LOCKED_PROJECT_ENV: str(Path(project_dir).resolve())} if lock_held else {}
    if dask_scheduler:
        env[DASK_SCHEDULER_ENV] = dask_scheduler
    done = run_dvc(["repro", "--single-item", stage], project_dir, stage, env)
    ran = stage_ran(stage, done.output)
    if done.code != 0:
        match = _EXIT_CODE.search(done.output)
        code = int(match.group(1)) if match else done.code
        raise StageFailed(
            stage, code, reason(done.output), transient=code == EXIT_TRANSIENT or _LOCKED in done.output
        )
    own = {name: float(seconds) for name, seconds in _STAGE_TIME.findall(done.output)}
    _logger().info("stage %s %s in %.1fs", stage, "ran" if ran else "was up to date", done.seconds)
    return {
        "stage": stage,
        "ran": ran,
        "seconds": round(done.seconds, 3),
        "stage_seconds": own.get(stage, 0.0) if ran else 0.0,
    }


def default_remote(project_dir: str) -> str | None:
    """The project's default DVC remote, or None: pull and push happen only where one is configured."""
    done = subprocess.run(
        [script("dvc"), "remote", "default"],
        cwd=project_dir,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    name = done.stdout.strip()
    return name if done.returncode == 0 and name else None


def _transfer(
    command: str, project_dir: str, remote: str, extra: list[str], targets: tuple[str, ...] = ()
) -> dict[str, Any]:
    done = run_dvc([command, "--remote", remote, *extra, *targets], project_dir, f"dvc {command}")
    summary = next((line.strip() for line in reversed(done.output.splitlines()) if line.strip()), "")
    if done.code != 0 and command == "pull" and _UNSAVED in done.output:
        summary = f"kept outputs changed in the workspace, their stages decide: {reason(done.output)}"
        _logger().warning("dvc pull: %s", summary)
    elif done.code != 0:
        raise StageFailed(f"dvc {command}", done.code, reason(done.output), transient=True)
    return {"command": command, "remote": remote, "seconds": round(done.seconds, 3), "summary": summary}


def retry_unless_timed_out(task: Any, task_run: Any, state: Any) -> bool:
    """Transfers are retried on any failure but their timeout: the time they were given is spent."""
    failure = _failure(state)
    return failure is not None and not isinstance(failure, TimeoutError)


@task(
    task_run_name="dvc-pull",
    retries=len(RETRY_DELAYS),
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_unless_timed_out,
)
def dvc_pull(project_dir: str, remote: str, targets: tuple[str, ...] = ()) -> dict[str, Any]:
    """Fetch and check out what dvc.lock names (of the `targets` stages, when given); outputs the remote lacks
    are rebuilt by their stages."""
    return _transfer("pull", project_dir, remote, ["--allow-missing"], targets)


@task(
    task_run_name="dvc-push",
    retries=len(RETRY_DELAYS),
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_unless_timed_out,
)
def dvc_push(project_dir: str, remote: str, targets: tuple[str, ...] = ()) -> dict[str, Any]:
    """Send every cached output (data, embeddings, checkpoints, model, evaluation), or the `targets` stages',
    to the remote."""
    return _transfer("push", project_dir, remote, [], targets)
