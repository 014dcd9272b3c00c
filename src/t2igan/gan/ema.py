"""Exponential moving average of the generator's weights: the copy used for sampling and evaluation.

`torch.optim.swa_utils.AveragedModel` keeps the average (one multi-tensor update over all weights, the
difference on a GPU); buffers (batch-norm statistics) are copied from the generator, not averaged. The
average starts as a copy of the generator, which counts as its first average, and its decay warms up with
the training step (below).
"""

from __future__ import annotations

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def make_ema(model: nn.Module) -> AveragedModel:
    average = AveragedModel(model, use_buffers=False)
    average.n_averaged.fill_(1)  # a copy of the model is its first average: the next update averages
    average.module.eval().requires_grad_(False)
    return average


def ema_decay(decay: float, step: int) -> float:
    """Warm-up (1+step)/(10+step) keeps early EMA weights from lagging far behind a fast-moving model."""
    return min(decay, (1.0 + step) / (10.0 + step))


def update_ema(average: AveragedModel, model: nn.Module, decay: float, step: int) -> None:
    # The decay depends on the step, and AveragedModel takes it through its averaging function.
    average.multi_avg_fn = get_ema_multi_avg_fn(ema_decay(decay, step))
    average.update_parameters(model)
