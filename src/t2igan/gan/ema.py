"""Exponential moving average of the generator's weights: the copy used for sampling and evaluation."""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(model: nn.Module) -> nn.Module:
    ema = copy.deepcopy(model).eval()
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float, step: int) -> None:
    """Warm-up (1+step)/(10+step) keeps early EMA weights from lagging far behind a fast-moving model."""
    beta = min(decay, (1.0 + step) / (10.0 + step))
    # Multi-tensor ops: one kernel over all weights, not one per tensor (the difference on a GPU).
    torch._foreach_lerp_(list(ema.parameters()), [p.detach() for p in model.parameters()], 1.0 - beta)
    buffers = list(model.buffers())
    if buffers:  # none without batch norm
        torch._foreach_copy_(list(ema.buffers()), buffers)
