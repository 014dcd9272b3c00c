"""The generator: its output for every normalisation, and what carries the sentence into it."""

from __future__ import annotations

import pytest
import torch

from t2igan.gan.discriminator import Discriminator
from t2igan.gan.generator import Generator
from tests.support.project import tiny_gan


@pytest.mark.parametrize("size", [16, 32, 64])
def test_generator_and_discriminator_shapes(size: int) -> None:
    config = tiny_gan(image_size=size)
    G, D = Generator(config), Discriminator(config)
    images = G(torch.randn(3, 10), torch.randn(3, 12))
    assert images.shape == (3, 3, size, size)
    assert images.min() >= -1 and images.max() <= 1
    assert D.features(images).shape[2:] == (4, 4)
    assert D(images, torch.randn(3, 12)).shape == (3,)


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_every_normalisation_choice_builds_and_keeps_statistics_only_when_it_normalises(norm: str) -> None:
    G = Generator(tiny_gan(g_norm=norm))
    assert G(torch.randn(2, 10), torch.randn(2, 12)).shape == (2, 3, 16, 16)
    assert (len(list(G.buffers())) > 0) == (norm == "batch")  # batch norm's running statistics


def test_generator_output_depends_on_the_sentence() -> None:
    torch.manual_seed(0)
    G = Generator(tiny_gan(text_in_seed=False))
    for p in G.parameters():  # move the affine layers off their identity initialisation
        p.data.add_(0.05 * torch.randn_like(p))
    z = torch.randn(1, 10)
    assert not torch.allclose(G(z, torch.randn(1, 12)), G(z, torch.randn(1, 12)))


def test_the_seed_map_carries_the_sentence_only_when_asked() -> None:
    """The fusion affines start as the identity, so at initialisation only the seed map can carry the text."""
    z, text_a, text_b = torch.randn(2, 10), torch.randn(2, 12), torch.randn(2, 12)
    for text_in_seed in (False, True):
        torch.manual_seed(0)
        G = Generator(tiny_gan(text_in_seed=text_in_seed)).eval()
        assert G.fc.in_features == (16 if text_in_seed else 10)
        assert torch.equal(G(z, text_a), G(z, text_b)) is not text_in_seed
