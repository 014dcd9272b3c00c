"""Discriminator: image features judged together with the sentence.

Split into `features` (image only) and `head` (features + sentence), so one pass over the real images serves
both the matching and the mismatched-caption terms, as in DF-GAN. With word attention the head also reads,
per position of its 4x4 map, the words that position attends to.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from t2igan.gan.architecture import GANConfig, widths
from t2igan.gan.conditioning import Words
from t2igan.gan.word_attention import WordAttention


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


class Discriminator(nn.Module):
    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        self.config = config
        chans = widths(config.d_nf, config.levels)[::-1]  # finest level first
        self.from_rgb = nn.Conv2d(3, chans[0], 3, 1, 1)
        self.blocks = nn.Sequential(
            *(DownBlock(chans[i], chans[i + 1], config.d_gate_init) for i in range(config.levels))
        )
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

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] in [-1, 1] -> [B, C, 4, 4]."""
        return self.blocks(self.from_rgb(images))

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
