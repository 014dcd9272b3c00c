"""The EMA of G: a warmed-up decay, buffers copied, and the average of the weights it was given."""

from __future__ import annotations

import pytest
import torch

from t2igan.gan.ema import ema_decay, make_ema, update_ema
from t2igan.gan.generator import Generator
from tests.support.project import tiny_gan


def test_decay_warms_up_to_its_setting() -> None:
    assert ema_decay(0.999, 0) == pytest.approx(0.1)
    assert ema_decay(0.999, 90) == pytest.approx(0.91)
    assert ema_decay(0.999, 10**6) == 0.999


def test_each_update_lerps_toward_the_model_and_copies_its_buffers() -> None:
    torch.manual_seed(0)
    model = Generator(tiny_gan())
    average = make_ema(model)
    assert all(torch.equal(a, b) for a, b in zip(average.module.parameters(), model.parameters(), strict=True))
    start = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        p.data.add_(1.0)
    model(torch.randn(4, 10), torch.randn(4, 12))  # batch norm updates its running statistics
    update_ema(average, model, decay=0.999, step=0)  # beta 0.1: 10% old, 90% new
    for ema, old, new in zip(average.module.parameters(), start, model.parameters(), strict=True):
        torch.testing.assert_close(ema, 0.1 * old + 0.9 * new)
    for ema_buffer, buffer in zip(average.module.buffers(), model.buffers(), strict=True):
        assert torch.equal(ema_buffer, buffer)
    assert not average.module.training and not any(p.requires_grad for p in average.module.parameters())
