"""Sampling helpers shared by training (sample grids), evaluation and the served model.

Noise is drawn per image from its own seed, so an image depends only on (caption, seed), never on which
batch it was generated in: the served model, the evaluation and the grids all agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from t2igan.gan.conditioning import CaptionFeatures
from t2igan.gan.generator import Generator
from t2igan.pixels import to_uint8


def check_truncation(truncation: float | None) -> None:
    if truncation is not None and not truncation > 0:
        raise ValueError(f"truncation must be a positive number (or none), got {truncation}")


MAX_REDRAWS = 64  # rounds of redrawing before the rest is drawn from the truncated normal directly


def truncated_noise(seed: int, z_dim: int, truncation: float | None = None) -> torch.Tensor:
    """N(0, I) noise for one seed; with `truncation` t, every component beyond +-t is redrawn (BigGAN).

    Redrawing from the same seeded generator keeps the image a function of (caption, seed, t). Smaller t
    trades variety for fidelity; None leaves the noise, and so every image, as it was without truncation.
    Redrawing costs about 1/t draws a component, unbounded as t goes to 0: after `MAX_REDRAWS` rounds (for
    t = 0.5 a component is still outside with odds of 4e-14) what is left is drawn by inverting the truncated
    normal's CDF, from the same generator. The cost is bounded whatever t is.
    """
    check_truncation(truncation)
    generator = torch.Generator().manual_seed(int(seed))
    z = torch.randn(z_dim, generator=generator)
    if truncation is None:
        return z
    outside = z.abs() > truncation
    for _ in range(MAX_REDRAWS):
        if not outside.any():
            return z
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = z.abs() > truncation
    if outside.any():
        z[outside] = _inverse_cdf_draws(int(outside.sum()), truncation, generator)
    return z


def _inverse_cdf_draws(count: int, truncation: float, generator: torch.Generator) -> torch.Tensor:
    """`count` draws of N(0, 1) restricted to [-t, t]: the inverse CDF at uniform points of its mass."""
    low = torch.special.ndtr(torch.tensor(-truncation, dtype=torch.float64))
    mass = 1.0 - 2.0 * low
    uniform = torch.rand(count, generator=generator, dtype=torch.float64)
    draws = torch.special.ndtri(low + uniform * mass)
    return draws.clamp(-truncation, truncation).to(torch.float32)


def noise_for_seeds(seeds: Sequence[int], z_dim: int, truncation: float | None = None) -> torch.Tensor:
    rows = [truncated_noise(seed, z_dim, truncation) for seed in seeds]
    return torch.stack(rows) if rows else torch.zeros(0, z_dim)


@torch.inference_mode()
def generate(
    generator: Generator,
    text: CaptionFeatures | torch.Tensor | np.ndarray,
    seeds: Sequence[int],
    batch_size: int = 64,
    truncation: float | None = None,
) -> np.ndarray:
    """Images (uint8 NHWC) for sentence embeddings `text` [N, D] (with their token states, for a generator
    with word attention), one seed per image, optionally truncated."""
    if generator.training:
        # In training mode batch norm would mix the images of a batch and update its running statistics.
        raise ValueError("generate() needs a generator in eval mode (call .eval())")
    if not isinstance(text, CaptionFeatures):
        text = CaptionFeatures(np.asarray(text, dtype=np.float32))
    if generator.config.word_attention and text.tokens is None:
        raise ValueError("this generator attends to words: give generate() the captions' token states")
    device = next(generator.parameters()).device
    sentence = torch.as_tensor(np.asarray(text.sentence, dtype=np.float32))
    noise = noise_for_seeds(seeds, generator.config.z_dim, truncation)
    out = []
    for start in range(0, len(seeds), batch_size):
        stop = start + batch_size
        words = text.rows(slice(start, stop)).words() if generator.config.word_attention else None
        images = generator(
            noise[start:stop].to(device),
            sentence[start:stop].to(device),
            words.to(device) if words is not None else None,
        )
        out.append(to_uint8(images.float()).cpu().numpy())
    size = generator.config.image_size
    return np.concatenate(out) if out else np.zeros((0, size, size, 3), dtype=np.uint8)


def image_grid(images: np.ndarray, columns: int, pad: int = 2) -> Image.Image:
    """Tile uint8 NHWC images row by row onto a white canvas."""
    count, height, width, _ = images.shape
    rows = max(1, -(-count // columns))
    canvas = np.full((rows * (height + pad) + pad, columns * (width + pad) + pad, 3), 255, dtype=np.uint8)
    for index in range(count):
        r, c = divmod(index, columns)
        top, left = pad + r * (height + pad), pad + c * (width + pad)
        canvas[top : top + height, left : left + width] = images[index]
    return Image.fromarray(canvas)
