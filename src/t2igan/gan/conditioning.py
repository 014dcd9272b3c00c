"""How the caption enters the GAN: the sentence vector, normalised whatever the encoder's scale, and, for word
attention, the caption's token states with a mask of which positions hold a token.

`CaptionFeatures` is the numpy form callers assemble (a row per image to draw); `Words` is the batch form the
networks read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F


def normalize_text(text: torch.Tensor) -> torch.Tensor:
    """Zero-mean, unit-variance components, whatever the encoder's scale.

    Unit-norm sentence embeddings have components of about 1/sqrt(dim); fed raw, the matching-aware gradient
    penalty (taken with respect to the sentence) punishes any use of the text so hard that D learns to ignore
    it. The trainer normalises once and takes the penalty with respect to the normalised vector; the
    generator normalises again internally (idempotent), so callers may pass raw encoder output. Token states
    get the same treatment, token by token.
    """
    return F.layer_norm(text, text.shape[-1:])


@dataclass(frozen=True)
class Words:
    """A batch's token states [B, L, W], zero-padded, and `mask` [B, L], True where a token is."""

    states: torch.Tensor
    mask: torch.Tensor

    @classmethod
    def from_padded(cls, states: np.ndarray, lengths: np.ndarray) -> Words:
        """From rows of a padded array (float16 on disk), cut to the longest caption among them."""
        lengths = np.asarray(lengths, dtype=np.int64)
        longest = max(int(lengths.max(initial=0)), 1)  # one (masked) position keeps the shapes valid
        chunk = np.asarray(states[:, :longest], dtype=np.float32)
        mask = np.arange(longest)[None, :] < lengths[:, None]
        return cls(torch.from_numpy(np.ascontiguousarray(chunk)), torch.from_numpy(mask))

    def to(self, device: torch.device | str) -> Words:
        return Words(self.states.to(device, non_blocking=True), self.mask.to(device, non_blocking=True))

    def roll(self, shifts: int) -> Words:
        """Each image gets another image's caption (D's mismatched pairs)."""
        return Words(self.states.roll(shifts, dims=0), self.mask.roll(shifts, dims=0))

    def __getitem__(self, index: slice) -> Words:
        return Words(self.states[index], self.mask[index])

    def __len__(self) -> int:
        return int(self.states.shape[0])


@dataclass(frozen=True)
class CaptionFeatures:
    """What a generator is conditioned on for N captions: sentence vectors [N, D] and, when it attends to
    words, their token states [N, L, W] (zero-padded) with each caption's token count."""

    sentence: np.ndarray
    tokens: np.ndarray | None = None
    lengths: np.ndarray | None = None

    @classmethod
    def from_ragged(cls, sentence: np.ndarray, states: Sequence[np.ndarray]) -> CaptionFeatures:
        """From one [length, W] array per caption (what the encoder returns)."""
        lengths = np.array([len(s) for s in states], dtype=np.int64)
        width = states[0].shape[1] if len(states) else 0
        padded = np.zeros((len(states), int(lengths.max(initial=0)), width), dtype=np.float16)
        for row, caption_states in enumerate(states):
            padded[row, : len(caption_states)] = caption_states
        return cls(np.asarray(sentence, dtype=np.float32), padded, lengths)

    def __len__(self) -> int:
        return int(self.sentence.shape[0])

    def rows(self, index: np.ndarray | slice) -> CaptionFeatures:
        if self.tokens is None or self.lengths is None:
            return CaptionFeatures(self.sentence[index])
        return CaptionFeatures(self.sentence[index], self.tokens[index], self.lengths[index])

    def repeat(self, times: int) -> CaptionFeatures:
        """Each caption `times` times in a row (several seeds per caption)."""
        return self.rows(np.repeat(np.arange(len(self)), times))

    def words(self) -> Words | None:
        if self.tokens is None or self.lengths is None:
            return None
        return Words.from_padded(self.tokens, self.lengths)


class _WithTokens(Protocol):
    @property
    def vectors(self) -> np.ndarray: ...

    @property
    def states(self) -> list[np.ndarray]: ...


class CaptionEncoder(Protocol):
    """What `caption_features` needs of a language model (t2igan.text.encoder.TextEncoder has it)."""

    def encode(self, captions: list[str]) -> np.ndarray: ...

    def encode_with_tokens(self, captions: list[str], *, tokens: bool) -> _WithTokens: ...


class CachedTokens(Protocol):
    """The embed stage's token states (t2igan.text.embeddings.TokenStates): padded rows, their lengths."""

    @property
    def states(self) -> np.ndarray: ...

    @property
    def lengths(self) -> np.ndarray: ...


def caption_features(encoder: CaptionEncoder, captions: list[str], words: bool) -> CaptionFeatures:
    """How new captions become a generator's input, wherever one draws for them (evaluation's hard prompts, an
    adapted LM's rows, the served model): the LM's sentence vectors and, for a generator that attends to
    `words`, their token states, from the same encoder call the embed stage made for the training captions."""
    if not words:
        return CaptionFeatures(np.asarray(encoder.encode(captions), dtype=np.float32))
    encoded = encoder.encode_with_tokens(captions, tokens=True)
    return CaptionFeatures.from_ragged(encoded.vectors, encoded.states)


def cached_caption_features(
    vectors: np.ndarray, rows: np.ndarray, tokens: CachedTokens | None = None
) -> CaptionFeatures:
    """The same input for captions the embed stage cached: `rows` of its vectors and, when the generator
    attends to words, of its token states (read from the memory-mapped file for those rows only)."""
    if tokens is None:
        return CaptionFeatures(vectors[rows])
    return CaptionFeatures(vectors[rows], np.asarray(tokens.states[rows]), tokens.lengths[rows])
