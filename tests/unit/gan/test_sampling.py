"""Sampling: an image is a function of (caption, seed, truncation), never of the batch it was made in."""

from __future__ import annotations

import pytest
import torch

from t2igan.gan.generator import Generator
from t2igan.gan.sampling import generate, image_grid, noise_for_seeds
from tests.support.project import tiny_gan


def test_sampling_depends_on_seed_not_batch() -> None:
    G = Generator(tiny_gan()).eval()
    text = torch.randn(3, 12)
    together = generate(G, text, [5, 6, 7])
    alone = generate(G, text[1:2], [6])
    assert together.dtype.name == "uint8" and together.shape == (3, 16, 16, 3)
    assert (together[1] == alone[0]).all()
    assert torch.equal(noise_for_seeds([1], 10), noise_for_seeds([1], 10))
    with pytest.raises(ValueError, match="eval mode"):
        generate(G.train(), text, [1, 2, 3])
    grid = image_grid(together, columns=2)
    assert grid.size == (2 * 18 + 2, 2 * 18 + 2)


def test_truncation_bounds_the_noise_and_keeps_images_a_function_of_the_seed() -> None:
    plain = noise_for_seeds([3, 4], 500)
    assert torch.equal(plain[0], torch.randn(500, generator=torch.Generator().manual_seed(3)))  # None = off
    truncated = noise_for_seeds([3, 4], 500, truncation=0.5)
    assert truncated.abs().max() <= 0.5 and torch.equal(truncated, noise_for_seeds([3, 4], 500, 0.5))
    inside = plain.abs() <= 0.5  # components already within the bound are kept, the rest redrawn
    assert torch.equal(truncated[inside], plain[inside]) and not torch.equal(truncated, plain)
    with pytest.raises(ValueError, match="positive"):
        noise_for_seeds([1], 10, truncation=0.0)
    G = Generator(tiny_gan()).eval()
    text = torch.randn(2, 12)
    assert (generate(G, text, [1, 2], truncation=0.3)[1] == generate(G, text[1:], [2], truncation=0.3)[0]).all()
