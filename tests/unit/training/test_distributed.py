"""`train.threads` is for the training only: torch's thread count comes back afterwards."""

from __future__ import annotations

import torch

from t2igan.config import TrainParams
from t2igan.training.distributed import training_process


def test_the_training_s_thread_count_does_not_outlive_it() -> None:
    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    with training_process(TrainParams(threads=wanted, device="cpu")):
        assert torch.get_num_threads() == wanted
    assert torch.get_num_threads() == before
