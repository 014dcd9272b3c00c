"""The training loop: batches in, steps taken, and the run's bookkeeping at its intervals.

Every interval counts completed steps and also fires on the last one, so a run always ends with its losses
logged, a sample grid and a checkpoint, whatever `steps` is. Only rank 0 logs (`run_log`) and writes
checkpoints; every rank steps.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol

from t2igan.config import TrainParams
from t2igan.progress import Progress
from t2igan.training.checkpoint import Checkpointer
from t2igan.training.data import BatchSampler
from t2igan.training.trainer import StepLosses, Trainer

log = logging.getLogger(__name__)


class RunLog(Protocol):
    """Where rank 0 records the run as it goes (t2igan.training.run_log.MlflowRunLog)."""

    def metrics(self, step: int, values: dict[str, float]) -> None: ...

    def samples(self, step: int) -> None: ...


@dataclass(frozen=True)
class Intervals:
    steps: int
    log: int
    sample: int
    checkpoint: int

    @classmethod
    def from_params(cls, params: TrainParams) -> Intervals:
        return cls(params.steps, params.log_every, params.sample_every, params.checkpoint_every)

    def due(self, every: int, done: int) -> bool:
        return done % every == 0 or done == self.steps


class LossWindow:
    """Averages of the losses since the last log, and the images per second over that time."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.images = 0
        self.started = time.perf_counter()

    def add(self, losses: StepLosses, images: int) -> None:
        for key, value in losses.as_metrics().items():
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1
        self.images += images

    def flush(self) -> dict[str, float]:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        out = {key: self.sums[key] / self.counts[key] for key in self.sums}
        out["images_per_second"] = self.images / elapsed
        self._reset()
        return out


@dataclass(frozen=True)
class LoopOutcome:
    last: StepLosses | None  # the final step's losses (None when there was nothing left to run)
    images_per_second: float  # over the last logging window (rank 0; 0 elsewhere)

    @property
    def final_losses(self) -> dict[str, float]:
        return self.last.as_metrics() if self.last else {}


def train_steps(
    trainer: Trainer,
    sampler: BatchSampler,
    start: int,
    intervals: Intervals,
    checkpointer: Checkpointer,
    run_log: RunLog | None,
) -> LoopOutcome:
    """Steps `start` .. `intervals.steps - 1`; `run_log` is None on every rank but 0."""
    window, throughput, last = LossWindow(), 0.0, None
    ranks = trainer.world.size
    bar = Progress("train", "steps", intervals.steps, unit="step", done=start, shown=run_log is not None)
    for step in range(start, intervals.steps):
        images, text, words = sampler.batch(step)
        try:
            last = trainer.step(step, images, text, words)
        except Exception:
            newest = checkpointer.manager.newest_path()
            log.error("training stopped at step %d; last good checkpoint: %s", step, newest or "none")
            raise
        window.add(last, images.shape[0] * ranks)
        done = step + 1
        bar.advance()
        if run_log is not None and intervals.due(intervals.log, done):
            metrics = {**window.flush(), **trainer.learning_rates()}
            throughput = metrics["images_per_second"]
            run_log.metrics(done, metrics)
            bar.note(d=f"{last.d:.3f}", g=f"{last.g:.3f}", ips=f"{throughput:.0f}")
        if run_log is not None and intervals.due(intervals.sample, done):
            run_log.samples(done)
        if intervals.due(intervals.checkpoint, done):
            checkpointer.save(done, trainer.state_dict)
    bar.close()
    return LoopOutcome(last, throughput)
