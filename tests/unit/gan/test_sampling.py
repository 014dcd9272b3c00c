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


def test_a_tiny_truncation_costs_a_bounded_number_of_draws() -> None:
    # Redrawing alone would take about a million rounds for 1e-9: this test would not end.
    for truncation in (1e-9, 1e-3, 0.05):
        noise = noise_for_seeds(range(64), 100, truncation=truncation)
        assert noise.abs().max() <= truncation and torch.equal(
            noise, noise_for_seeds(range(64), 100, truncation)
        )
        assert len(set(noise[:, 0].tolist())) > 1  # still noise, not zeros


def test_the_usual_truncations_keep_the_noise_they_always_gave() -> None:
    """Below MAX_REDRAWS nothing changed: a component within the bound is the draw it always was."""
    generator = torch.Generator().manual_seed(5)
    z = torch.randn(100, generator=generator)
    while (outside := z.abs() > 0.7).any():  # the rule before the bound, run to the end
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
    assert torch.equal(noise_for_seeds([5], 100, truncation=0.7)[0], z)
