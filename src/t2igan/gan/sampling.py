"""Sampling helpers shared by training (sample grids), evaluation and the served model.

Noise is drawn per image from its own seed, so an image depends only on (caption, seed), never on which
batch it was generated in: the served model, the evaluation and the grids all agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from t2igan.gan.generator import Generator
from t2igan.pixels import to_uint8


def check_truncation(truncation: float | None) -> None:
    if truncation is not None and not truncation > 0:
        raise ValueError(f"truncation must be a positive number (or none), got {truncation}")


def truncated_noise(seed: int, z_dim: int, truncation: float | None = None) -> torch.Tensor:
    """N(0, I) noise for one seed; with `truncation` t, every component beyond +-t is redrawn (BigGAN).

    Redrawing from the same seeded generator keeps the image a function of (caption, seed, t). Smaller t
    trades variety for fidelity; None leaves the noise, and so every image, as it was without truncation.
    """
    check_truncation(truncation)
    generator = torch.Generator().manual_seed(int(seed))
    z = torch.randn(z_dim, generator=generator)
    if truncation is not None:
        outside = z.abs() > truncation
        while outside.any():
            z[outside] = torch.randn(int(outside.sum()), generator=generator)
            outside = z.abs() > truncation
    return z


def noise_for_seeds(seeds: Sequence[int], z_dim: int, truncation: float | None = None) -> torch.Tensor:
    rows = [truncated_noise(seed, z_dim, truncation) for seed in seeds]
    return torch.stack(rows) if rows else torch.zeros(0, z_dim)


@torch.inference_mode()
def generate(
    generator: Generator,
    text: torch.Tensor | np.ndarray,
    seeds: Sequence[int],
    batch_size: int = 64,
    truncation: float | None = None,
) -> np.ndarray:
    """Images (uint8 NHWC) for sentence embeddings `text` [N, D], one seed per image, optionally truncated."""
    if generator.training:
        # In training mode batch norm would mix the images of a batch and update its running statistics.
        raise ValueError("generate() needs a generator in eval mode (call .eval())")
    device = next(generator.parameters()).device
    text = torch.as_tensor(np.asarray(text, dtype=np.float32))
    noise = noise_for_seeds(seeds, generator.config.z_dim, truncation)
    out = []
    for start in range(0, len(seeds), batch_size):
        stop = start + batch_size
        images = generator(noise[start:stop].to(device), text[start:stop].to(device))
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
