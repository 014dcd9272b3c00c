"""Progress of a stage's long loops: a bar for the person at the terminal, lines for the flow that runs it.

A person running `t2igan evaluate` sees a tqdm bar per phase (Inception on the real images, on the generated
ones, the judge's epochs...). The Prefect flow runs the same stage through `dvc repro`, in another process, so
it cannot see the bar: when `T2IGAN_PROGRESS_LINES` names a number of seconds (the flow sets it), each phase
also prints `t2igan-progress <stage> <phase> <done>/<total>` to stdout at most that often, and always at its
start and end. The flow reads those lines from the stage's output and keeps a Prefect progress artifact per
phase on the stage's task (flows/dvc_tasks.py). One format, written here and parsed here.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

from tqdm.auto import tqdm

from t2igan.env import PROGRESS_LINES_ENV

PREFIX = "t2igan-progress"
# Searched, not matched: a bar redrawn without a newline may share the line read back from a pipe.
_LINE = re.compile(rf"{PREFIX} ([\w-]+) ([\w-]+) (\d+)/(\d+)\s*$")

T = TypeVar("T")


@dataclass(frozen=True)
class ProgressLine:
    stage: str
    phase: str
    done: int
    total: int

    @property
    def percent(self) -> float:
        """0-100, as Prefect's progress artifacts take it (an empty phase is done)."""
        return 100.0 if self.total <= 0 else round(100.0 * min(self.done, self.total) / self.total, 1)

    def render(self) -> str:
        return f"{PREFIX} {self.stage} {self.phase} {self.done}/{self.total}"


def parse(line: str) -> ProgressLine | None:
    """The progress a stage printed on this line, or None for any other line."""
    match = _LINE.search(line)
    if match is None:
        return None
    stage, phase, done, total = match.groups()
    return ProgressLine(stage, phase, int(done), int(total))


def _line_interval() -> float | None:
    raw = os.environ.get(PROGRESS_LINES_ENV, "").strip()
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None


class Progress:
    """One phase of a stage: `advance(n)` as work is done; a context manager that reports the end."""

    def __init__(
        self, stage: str, phase: str, total: int, unit: str = "it", done: int = 0, shown: bool = True
    ) -> None:
        """`done`: work already done (a resumed run); `shown`: False reports nothing (another rank's loop)."""
        self.stage, self.phase, self.total = stage, phase, int(total)
        self.done = int(done)
        self._interval = _line_interval() if shown else None
        self._last_line = -float("inf")
        self._bar = tqdm(
            total=self.total,
            initial=self.done,
            desc=f"{stage}: {phase}",
            unit=unit,
            file=sys.stderr,
            disable=not shown,
        )
        self._emit(force=True)

    def advance(self, count: int = 1) -> None:
        self.done += count
        self._bar.update(count)
        self._emit(force=False)

    def note(self, **figures: str) -> None:
        """Figures shown beside the bar (losses, images/s)."""
        self._bar.set_postfix(figures)

    def close(self) -> None:
        self._emit(force=True)
        self._bar.close()

    def _emit(self, force: bool) -> None:
        if self._interval is None:
            return
        now = time.monotonic()
        if force or now - self._last_line >= self._interval:
            self._last_line = now
            line = ProgressLine(self.stage, self.phase, self.done, self.total).render()
            # On stdout, apart from the bar on stderr: tqdm.write would redraw the bar after each line, which
            # the flow's log would then show every few seconds, not at the bar's own (TQDM_MININTERVAL) rate.
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:  # a failed phase is not reported as done
            self._bar.close()


def tracked(items: Iterable[T], stage: str, phase: str, total: int, unit: str = "it") -> Iterator[T]:
    """`items`, one step of progress each."""
    with Progress(stage, phase, total, unit) as progress:
        for item in items:
            yield item
            progress.advance()
