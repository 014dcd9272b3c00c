"""Discriminator: image features judged together with the sentence.

Split into `features` (image only) and `head` (features + sentence), so one pass over the real images serves
both the matching and the mismatched-caption terms, as in DF-GAN. With word attention the head also reads,
per position of its 4x4 map, the words that position attends to.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from t2igan.gan.architecture import GANConfig, widths
from t2igan.gan.conditioning import Words
from t2igan.gan.word_attention import WordAttention
from t2igan.vision.backbone import Backbone
from t2igan.vision.families import load_backbone


def load_d_backbone(config: GANConfig) -> Backbone | None:
    """The frozen network `config.d_backbone` names, at `d_backbone_resolution` (None when D has none)."""
    if config.d_backbone is None:
        return None
    return load_backbone(config.d_backbone, config.d_backbone_resolution)


class DownBlock(nn.Module):
    """Strided conv residual branch, scaled by a learnt gate.

    DF-GAN starts the gate at zero, which leaves D linear in the image until the gates grow: it can then only
    compare mean colors, and on a CPU budget of ~1000 steps it never gets further. Starting at one gives a
    nonlinear D from the first step.
    """

    def __init__(self, in_ch: int, out_ch: int, gate_init: float) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        self.gate = nn.Parameter(torch.full((1,), float(gate_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Pool, then the 1x1 shortcut: both are linear and per-pixel/per-channel, so they commute exactly, and
        # the convolution runs on a quarter of the pixels.
        return self.shortcut(F.avg_pool2d(x, 2)) + self.gate * self.residual(x)


class ScaleHead(nn.Module):
    """One backbone map to D's 4x4 grid: a 1x1 projection, pooled to 8x8 at most, one down block."""

    def __init__(self, in_ch: int, out_ch: int, gate_init: float) -> None:
        super().__init__()
        self.project = nn.Conv2d(in_ch, out_ch, 1)
        self.down = DownBlock(out_ch, out_ch, gate_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.project(x), 0.2)
        h = F.adaptive_avg_pool2d(h, 8)  # a map smaller than 8x8 is spread over it
        return self.down(h)


class Discriminator(nn.Module):
    backbone: Backbone | None  # set with object.__setattr__: not a registered child (see __init__)

    def __init__(self, config: GANConfig, backbone: Backbone | None = None) -> None:
        """`backbone`: the frozen network of `config.d_backbone`, built by the caller (`load_d_backbone`).

        It is held outside the module tree: not in `state_dict` (checkpoints hold what trains; the network's
        weights come from where `d_backbone` names), not in `parameters()` (no optimizer or gradient
        averaging sees it), yet moved with D by `.to()`.
        """
        super().__init__()
        self.config = config
        if (backbone is None) != (config.d_backbone is None):
            raise ValueError("a discriminator with d_backbone needs its backbone, and one without none")
        object.__setattr__(self, "backbone", backbone)
        chans = widths(config.d_nf, config.levels)[::-1]  # finest level first
        if backbone is None:
            self.from_rgb = nn.Conv2d(3, chans[0], 3, 1, 1)
            self.blocks = nn.Sequential(
                *(DownBlock(chans[i], chans[i + 1], config.d_gate_init) for i in range(config.levels))
            )
        else:
            # Projected GAN / StyleGAN-T: trainable heads on each frozen map, joined on the 4x4 grid.
            self.scale_heads = nn.ModuleList(
                ScaleHead(channels, chans[-1], config.d_gate_init) for channels in backbone.channels
            )
            self.mix = nn.Conv2d(chans[-1] * len(backbone.channels), chans[-1], 1)
        self.text_proj = nn.Linear(config.text_dim, config.cond_dim)
        # Word context beside the sentence in the joint head, its values started at zero (a no-op at first)
        self.word_context: WordAttention | None = None
        if config.word_attention:
            self.word_context = WordAttention(chans[-1], config.word_dim, config.cond_dim, config.cond_dim)
            nn.init.zeros_(self.word_context.value.weight)
        joint_in = chans[-1] + config.cond_dim * (2 if self.word_context is not None else 1)
        self.joint = nn.Sequential(
            nn.Conv2d(joint_in, config.d_nf * 2, 3, 1, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(config.d_nf * 2, 1, 4, 1, 0, bias=False),
        )
        # Projection term (Miyato & Koyama 2018): <V s, pooled features>, a direct match score per sentence.
        # Mean-pooled and started at zero: MA-GP's 6th power punishes any large initial gradient.
        self.projection = nn.Linear(config.text_dim, chans[-1], bias=False) if config.d_projection else None
        if self.projection is not None:
            nn.init.zeros_(self.projection.weight)
        # Contrastive embeddings (XMC-GAN): image features and sentences mapped to one space where each image
        # must pick its own caption out of the batch. Unlike the hinge terms this never saturates.
        self.contrast_image: nn.Module | None = None
        self.contrast_text: nn.Module | None = None
        if config.contrastive_dim > 0:
            self.contrast_image = nn.Linear(chans[-1] * 16, config.contrastive_dim)
            self.contrast_text = nn.Linear(config.text_dim, config.contrastive_dim)

    def _apply(self, fn: Any, recurse: bool = True) -> Discriminator:
        """`.to()`, `.float()` and the like reach the backbone too (it is not a registered child)."""
        if self.backbone is not None:
            self.backbone._apply(fn, recurse)
        return super()._apply(fn, recurse)

    def observe(self, images: torch.Tensor) -> list[torch.Tensor]:
        """What D's trainable layers read: the images themselves, or the frozen backbone's maps of them.

        The matching-aware penalty is taken with respect to these (for a backbone: its maps, so the penalty
        never backpropagates through the frozen network twice)."""
        return [images] if self.backbone is None else self.backbone(images)

    def features_from(self, observed: list[torch.Tensor]) -> torch.Tensor:
        """`observe`'s output -> [B, C, 4, 4]."""
        if self.backbone is None:
            return self.blocks(self.from_rgb(observed[0]))
        return self.mix(torch.cat([head(x) for head, x in zip(self.scale_heads, observed, strict=True)], 1))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] in [-1, 1] -> [B, C, 4, 4]."""
        return self.features_from(self.observe(images))

    def head(self, features: torch.Tensor, text: torch.Tensor, words: Words | None = None) -> torch.Tensor:
        """Joint image-sentence logit, [B]; `text` normalised with `normalize_text` by the caller, `words` the
        captions' token states (for a discriminator with word attention)."""
        cond = self.text_proj(text)[:, :, None, None].expand(-1, -1, features.shape[2], features.shape[3])
        parts = [features, cond]
        if self.word_context is not None:
            if words is None:
                raise ValueError("this discriminator attends to words: pass the captions' token states")
            parts.append(self.word_context(features, words))
        logits = self.joint(torch.cat(parts, dim=1)).flatten()
        if self.projection is not None:
            pooled = F.leaky_relu(features, 0.2).mean(dim=(2, 3))
            logits = logits + (self.projection(text) * pooled).sum(dim=1)
        return logits

    def match_scores(self, features: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of every image in the batch with every sentence, [B_images, B_sentences]."""
        if self.contrast_image is None or self.contrast_text is None:
            raise ValueError("this discriminator has no contrastive head (contrastive_dim = 0)")
        # Flattened, not pooled: where the object is matters as much as what it is.
        image = F.normalize(self.contrast_image(F.leaky_relu(features, 0.2).flatten(1)).float(), dim=1)
        sentence = F.normalize(self.contrast_text(text).float(), dim=1)
        return image @ sentence.T

    def forward(self, images: torch.Tensor, text: torch.Tensor, words: Words | None = None) -> torch.Tensor:
        return self.head(self.features(images), text, words)
