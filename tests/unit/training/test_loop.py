"""The loop's bookkeeping: intervals counted in completed steps that always fire on the last step."""

from __future__ import annotations

import pytest

from t2igan.config import TrainParams
from t2igan.training.loop import Intervals, LossWindow
from t2igan.training.trainer import StepLosses


def test_intervals_fire_on_their_multiples_and_on_the_last_step() -> None:
    intervals = Intervals.from_params(TrainParams(steps=10, log_every=4, sample_every=6, checkpoint_every=5))
    assert [done for done in range(1, 11) if intervals.due(intervals.log, done)] == [4, 8, 10]
    assert [done for done in range(1, 11) if intervals.due(intervals.sample, done)] == [6, 10]
    assert [done for done in range(1, 11) if intervals.due(intervals.checkpoint, done)] == [5, 10]


def test_the_window_averages_since_its_last_flush() -> None:
    window = LossWindow()
    window.add(StepLosses(d=1.0, g=2.0, gp=0.5, real=0.0, fake=0.0), images=8)
    window.add(StepLosses(d=3.0, g=4.0, gp=None, real=1.0, fake=-1.0), images=8)
    out = window.flush()
    assert (out["loss_d"], out["loss_g"], out["ma_gp"], out["logit_real"]) == (2.0, 3.0, 0.5, 0.5)
    assert out["images_per_second"] > 0
    window.add(StepLosses(d=5.0, g=5.0, gp=None, real=0.0, fake=0.0), images=1)
    assert window.flush()["loss_d"] == pytest.approx(5.0)  # the earlier steps are gone
