"""What a run may resume from: the same computing settings on the same data, whatever the bookkeeping."""

from __future__ import annotations

from t2igan.config import Params
from t2igan.paths import ProjectPaths
from t2igan.training.resume import BOOKKEEPING, run_signature


def _with(params: Params, **train: object) -> Params:
    return params.model_copy(update={"train": params.train.model_copy(update=train)})


def test_bookkeeping_settings_leave_the_signature_and_computing_ones_change_it(
    embedded: ProjectPaths, tiny_params: Params
) -> None:
    project = embedded
    signature = run_signature(tiny_params, project)
    assert {"steps", "log_every", "checkpoint_every"} <= BOOKKEEPING
    assert run_signature(_with(tiny_params, steps=500, log_every=1, checkpoint_every=2), project) == signature
    assert run_signature(_with(tiny_params, lr_g=0.123), project) != signature
    other_data = tiny_params.model_copy(update={"data": tiny_params.data.model_copy(update={"name": "other"})})
    assert run_signature(other_data, project) != signature
