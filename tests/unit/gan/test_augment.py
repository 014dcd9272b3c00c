"""DiffAugment: differentiable, seeded, and each transform does what the paper says."""

from __future__ import annotations

import torch

from t2igan.gan.augment import diff_augment


def test_diff_augment_is_differentiable_seeded_and_does_what_it_says() -> None:
    x = (torch.rand(6, 3, 16, 16) * 2 - 1).requires_grad_(True)
    same = [diff_augment(x, ["color", "translation", "cutout"], torch.Generator().manual_seed(5)) for _ in "ab"]
    assert torch.equal(same[0], same[1]) and same[0].shape == x.shape
    same[0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # gradients reach the images
    assert torch.equal(diff_augment(x, [], torch.Generator()), x)

    ones = torch.ones(64, 3, 16, 16)
    cut = diff_augment(ones, ["cutout"], torch.Generator().manual_seed(0))
    zeroed = (cut == 0).all(dim=1).sum(dim=(1, 2)).float()
    assert zeroed.max() <= 64 and zeroed.mean() > 20  # an 8x8 square, clipped at the borders
    shifted = diff_augment(ones, ["translation"], torch.Generator().manual_seed(0))
    rows_lost = (shifted == 0).all(dim=(1, 3)).sum(dim=1)  # zero rows shifted in from the border
    assert rows_lost.max() <= 2 and rows_lost.sum() > 0  # at most 1/8 of 16
