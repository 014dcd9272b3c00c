"""Sampling helpers shared by training (sample grids), evaluation and the served model.

Noise is drawn per image from its own seed, so an image depends only on (caption, seed), never on which
batch it was generated in: the served model, the evaluation and the grids all agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from t2igan.gan.generator import Generator, to_uint8


def noise_for_seeds(seeds: Sequence[int], z_dim: int) -> torch.Tensor:
    rows = [torch.randn(z_dim, generator=torch.Generator().manual_seed(int(seed))) for seed in seeds]
    return torch.stack(rows) if rows else torch.zeros(0, z_dim)


@torch.inference_mode()
def generate(
    generator: Generator,
    text: torch.Tensor | np.ndarray,
    seeds: Sequence[int],
    batch_size: int = 64,
) -> np.ndarray:
    """Images (uint8 NHWC) for sentence embeddings `text` [N, D] and one seed per image."""
    if generator.training:
        # In training mode batch norm would mix the images of a batch and update its running statistics.
        raise ValueError("generate() needs a generator in eval mode (call .eval())")
    device = next(generator.parameters()).device
    text = torch.as_tensor(np.asarray(text, dtype=np.float32))
    noise = noise_for_seeds(seeds, generator.config.z_dim)
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
