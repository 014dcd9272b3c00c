"""Word-level conditioning: every image position reads the caption's words (the AttnGAN / DAE-GAN line).

The sentence vector says what the whole caption means; attention lets each region pick the words that concern
it ("red", "left", "triangle"), which one pooled vector blurs together. Both modules start as no-ops (their
output layers zero), so a model with word attention begins exactly as the sentence-only one and MA-GP sees no
large early gradient from them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from t2igan.gan.conditioning import Words, normalize_text


class WordAttention(nn.Module):
    """Context [B, out_dim, H, W]: per position, the softmax-weighted words, padding masked out.

    Written out rather than through `scaled_dot_product_attention`: MA-GP differentiates D's head twice, and
    the fused CPU kernels have no double backward. The sizes here (tens of tokens) make the plain form cheap.
    """

    def __init__(self, channels: int, word_dim: int, attn_dim: int, out_dim: int) -> None:
        super().__init__()
        self.query = nn.Conv2d(channels, attn_dim, 1, bias=False)
        self.key = nn.Linear(word_dim, attn_dim, bias=False)
        self.value = nn.Linear(word_dim, out_dim, bias=False)
        self.scale = 1.0 / math.sqrt(attn_dim)

    def forward(self, h: torch.Tensor, words: Words) -> torch.Tensor:
        batch, _, height, width = h.shape
        states = normalize_text(words.states.to(h.dtype))
        query = self.query(h).flatten(2).transpose(1, 2)  # [B, HW, d]
        scores = query @ self.key(states).transpose(1, 2) * self.scale  # [B, HW, L]
        scores = scores.masked_fill(~words.mask[:, None, :], float("-inf"))
        context = scores.softmax(dim=-1) @ self.value(states)  # [B, HW, out]
        return context.transpose(1, 2).reshape(batch, -1, height, width)


class WordFusion(nn.Module):
    """h * (1 + gamma(c)) + beta(c) per position, c the words that position attends to.

    DF-GAN's affine fusion made spatial: the sentence's affine is the same everywhere; this one differs from
    region to region. gamma and beta start at zero, so the block starts as the identity.
    """

    def __init__(self, channels: int, word_dim: int, attn_dim: int) -> None:
        super().__init__()
        self.attend = WordAttention(channels, word_dim, attn_dim, channels)
        self.gamma = nn.Conv2d(channels, channels, 1)
        self.beta = nn.Conv2d(channels, channels, 1)
        for layer in (self.gamma, self.beta):
            nn.init.zeros_(layer.weight)
            assert layer.bias is not None
            nn.init.zeros_(layer.bias)

    def forward(self, h: torch.Tensor, words: Words) -> torch.Tensor:
        context = self.attend(h, words)
        return h * (1 + self.gamma(context)) + self.beta(context)
