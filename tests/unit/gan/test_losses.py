"""Hinge losses, the in-batch contrastive loss and the matching-aware gradient penalty, by their definitions."""

from __future__ import annotations

import pytest
import torch

from t2igan.gan.discriminator import Discriminator
from t2igan.gan.losses import MODE_SEEKING_EPS, contrastive, d_hinge, g_hinge, matching_aware_gp, mode_seeking
from tests.support.project import tiny_gan


def test_contrastive_loss_values() -> None:
    assert contrastive(torch.zeros(4, 4), 0.1, symmetric=True).item() == pytest.approx(
        torch.log(torch.tensor(4.0))
    )
    confident = torch.eye(4) * 2 - 1  # cosine 1 with the own caption, -1 with the others
    assert contrastive(confident, 0.1, symmetric=False).item() < 1e-7
    # Rows are images: an image that prefers another caption is penalised, whichever direction is asked.
    swapped = confident[[1, 0, 2, 3]]
    assert contrastive(swapped, 0.1, symmetric=False).item() > 9.0
    assert contrastive(swapped, 0.1, symmetric=True).item() > 9.0


def test_mode_seeking_is_the_reciprocal_of_image_over_noise_distance() -> None:
    z1, z2 = torch.zeros(2, 6), torch.ones(2, 6)  # mean absolute noise difference 1
    images = torch.zeros(2, 3, 4, 4)
    assert mode_seeking(images, images, z1, z2).item() == pytest.approx(1 / MODE_SEEKING_EPS)  # noise ignored
    apart = images + torch.tensor([0.5, 0.25])[:, None, None, None]
    assert mode_seeking(images, apart, z1, z2).item() == pytest.approx(1 / (0.375 + MODE_SEEKING_EPS))
    assert mode_seeking(images, apart, z1, 2 * z2).item() == pytest.approx(1 / (0.1875 + MODE_SEEKING_EPS))
    # Its gradient pushes the two images apart.
    moving = apart.clone().requires_grad_(True)
    mode_seeking(images, moving, z1, z2).backward()
    assert moving.grad is not None and (moving.grad < 0).all()


def test_hinge_losses() -> None:
    assert d_hinge(torch.tensor([2.0]), torch.tensor([-2.0]), torch.tensor([-3.0])).item() == 0.0
    assert d_hinge(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([0.0])).item() == 2.0
    assert g_hinge(torch.tensor([1.0, 3.0])).item() == -2.0


def test_ma_gp_matches_its_definition() -> None:
    torch.manual_seed(0)
    D = Discriminator(tiny_gan(text_dim=5, nf=4, d_nf=4, z_dim=3, cond_dim=3))
    images, text = torch.randn(4, 3, 16, 16), torch.randn(4, 5)
    penalty, _, logits = matching_aware_gp(D, images, text, weight=2.0, power=6.0)
    expected = []
    for i in range(4):
        x, s = images[i : i + 1].clone().requires_grad_(), text[i : i + 1].clone().requires_grad_()
        gx, gs = torch.autograd.grad(D(x, s).sum(), (x, s))
        expected.append(torch.cat([gx.flatten(), gs.flatten()]).norm() ** 6)
    assert torch.allclose(penalty, 2.0 * torch.stack(expected).mean(), rtol=1e-4)
    assert torch.allclose(logits, D(images, text), atol=1e-6)
    penalty.backward()  # differentiable w.r.t. D's weights
    assert D.from_rgb.weight.grad is not None
