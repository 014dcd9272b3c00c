"""DF-GAN's blocks in their published order: the reference t2igan's cheaper rewrites are held to.

t2igan's generator block fuses and shortcuts at the low resolution and upsamples with a transposed conv; its
discriminator block pools before its 1x1 shortcut. Both compute the same function as the order below, which
the tests compare against (values and gradients) and bench_train times as DF-GAN's own step.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from t2igan.gan.discriminator import DownBlock
from t2igan.gan.generator import UpBlock
from t2igan.training.trainer import Trainer


def up_block_published(block: UpBlock, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """Upsample 2x first, then fuse-conv-fuse-conv, the shortcut at the high resolution."""
    h = F.interpolate(h, scale_factor=2, mode="nearest")
    residual = block.conv2(block.fuse2(block.conv1(block.fuse1(h, cond)), cond))
    return block.shortcut(h) + residual


def down_block_published(block: DownBlock, x: torch.Tensor) -> torch.Tensor:
    """The 1x1 shortcut at the high resolution, then the pool."""
    return F.avg_pool2d(block.shortcut(x), 2) + block.gate * block.residual(x)


def use_published_order(trainer: Trainer) -> None:
    """Make a trainer's G and D run DF-GAN's blocks as published (the same function, more work)."""
    for up in trainer.generator.blocks:
        up.forward = functools.partial(up_block_published, up)  # type: ignore[method-assign]
    for down in trainer.discriminator.blocks:
        down.forward = functools.partial(down_block_published, down)  # type: ignore[method-assign]
