"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for data-efficient GAN training.

With few training images the discriminator memorises them and stops giving the generator a useful signal.
Augmenting every image D sees, real and generated alike, with transforms that gradients flow through keeps
D from memorising without leaking the augmentations into G's samples. The three transforms and their
strengths are the paper's: colour (brightness +-0.5, saturation x0..2, contrast x0.5..1.5), translation (up
to 1/8 of the side, zero fill) and cutout (a zeroed square of half the side). Randomness comes from the
`torch.Generator` the caller passes, so a resumed run draws the same augmentations.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

AUGMENTATIONS = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def _uniform(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, generator=generator, device=x.device, dtype=x.dtype)


def _color(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    x = x + (_uniform(x, generator) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform(x, generator) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean


def _translation(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n, _, h, w = x.shape
    sy, sx = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
    ty = torch.randint(-sy, sy + 1, (n, 1, 1), generator=generator, device=x.device)
    tx = torch.randint(-sx, sx + 1, (n, 1, 1), generator=generator, device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + ty + 1).clamp(0, h + 1)
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + tx + 1).clamp(0, w + 1)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))  # the zero border that shifted-in pixels read
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=generator, device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=generator, device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    dy, dx = ys - cy + ch // 2, xs - cx + cw // 2  # position inside the square, when in [0, side)
    inside = (dy >= 0) & (dy < ch) & (dx >= 0) & (dx < cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_TRANSFORMS = {"color": _color, "translation": _translation, "cutout": _cutout}


def diff_augment(x: torch.Tensor, policy: Sequence[str], generator: torch.Generator) -> torch.Tensor:
    """Apply the transforms named in `policy`, in the paper's order, each with fresh per-image draws."""
    for name in AUGMENTATIONS:
        if name in policy:
            x = _TRANSFORMS[name](x, generator)
    return x.contiguous()
