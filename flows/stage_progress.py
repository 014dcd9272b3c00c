"""Stage progress in the Prefect UI: a progress artifact per phase on the stage's task, from the stage's lines.

The stage runs under `dvc repro` in another process and prints `t2igan-progress ...` lines
(t2igan.progress); `run_dvc` hands each line here. Progress is a view, never a reason to fail a stage: an
artifact the API refuses is logged once and the stage goes on.
"""

from __future__ import annotations

import logging
from typing import cast
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.context import TaskRunContext

from t2igan.progress import ProgressLine, parse

log = logging.getLogger(__name__)


class ProgressArtifacts:
    """One progress artifact per (stage, phase) seen in a task's output, created on its first line."""

    def __init__(self) -> None:
        self.enabled = TaskRunContext.get() is not None  # artifacts belong to a task run
        self._ids: dict[tuple[str, str], UUID] = {}
        self.latest: dict[tuple[str, str], ProgressLine] = {}

    def feed(self, line: str) -> bool:
        """Whether `line` was a progress line (then it is shown, not logged)."""
        progress = parse(line)
        if progress is None:
            return False
        phase = (progress.stage, progress.phase)
        self.latest[phase] = progress
        if self.enabled:
            self._show(phase, progress)
        return True

    def _show(self, phase: tuple[str, str], progress: ProgressLine) -> None:
        description = f"{progress.stage}: {progress.phase} {progress.done}/{progress.total}"
        try:
            if phase in self._ids:
                update_progress_artifact(self._ids[phase], progress.percent, description=description)
            else:
                created = create_progress_artifact(progress.percent, description=description)
                self._ids[phase] = cast(UUID, created)  # a UUID when called from sync code
        except Exception as exc:  # a progress view must never fail the stage it shows
            log.warning("progress artifacts off for this task: %s", exc)
            self.enabled = False
