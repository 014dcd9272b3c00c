"""The discriminator's heads: the contrastive match scores and the projection term."""

from __future__ import annotations

import pytest
import torch

from t2igan.gan.discriminator import Discriminator
from tests.support.project import tiny_gan


def test_match_scores_are_cosines_between_every_image_and_every_sentence() -> None:
    torch.manual_seed(0)
    D = Discriminator(tiny_gan(contrastive_dim=5))
    features, text = D.features(torch.randn(3, 3, 16, 16)), torch.randn(4, 12)
    scores = D.match_scores(features, text)
    assert scores.shape == (3, 4) and scores.abs().max() <= 1 + 1e-6
    assert torch.allclose(scores[1:, 2:], D.match_scores(features[1:], text[2:]))
    with pytest.raises(ValueError, match="no contrastive head"):
        Discriminator(tiny_gan(contrastive_dim=0)).match_scores(features, text)


def test_projection_head_adds_a_sentence_match_score() -> None:
    D = Discriminator(tiny_gan(d_projection=True))
    images, text = torch.rand(3, 3, 16, 16) * 2 - 1, torch.randn(3, 12)
    assert D.projection is not None and not D.projection.weight.any()  # starts at zero: MA-GP starts calm
    torch.nn.init.normal_(D.projection.weight)  # make the term count
    features = D.features(images)
    joint = D.joint(
        torch.cat([features, D.text_proj(text)[:, :, None, None].expand(-1, -1, 4, 4)], 1)
    ).flatten()
    pooled = torch.nn.functional.leaky_relu(features, 0.2).mean((2, 3))
    expected = joint + (D.projection(text) * pooled).sum(1)
    assert torch.allclose(D(images, text), expected, atol=1e-5)
    assert not torch.allclose(D(images, text), joint, atol=1e-3)  # the term changes the logit
    assert Discriminator(tiny_gan(d_projection=False)).projection is None
