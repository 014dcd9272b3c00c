"""The embed stage's output on disk, and its reader: sentence vectors aligned with the clean manifest.

data/embeddings/ holds embeddings.npy (float32, one row per clean-manifest row, in its order), encoder.json
(the encoder's spec and fingerprint, which later stages check and the registered model reuses) and, when
token states are asked for, tokens.npy (float16 [N, longest caption, hidden], zero-padded) with
token_lengths.npy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from t2igan.errors import StageInputError
from t2igan.io import atomic_path, read_json, write_json
from t2igan.text.cache import TokenCache

EMBEDDINGS_FILE = "embeddings.npy"
ENCODER_FILE = "encoder.json"
TOKENS_FILE = "tokens.npy"
TOKEN_LENGTHS_FILE = "token_lengths.npy"


@dataclass(frozen=True)
class Embeddings:
    vectors: np.ndarray
    encoder: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        return str(self.encoder["fingerprint"])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def write_vectors(directory: Path, vectors: np.ndarray, encoder: dict[str, Any]) -> None:
    """embeddings.npy and encoder.json (the caller makes the directory swap atomic)."""
    with atomic_path(directory / EMBEDDINGS_FILE) as tmp, open(tmp, "wb") as handle:
        np.save(handle, vectors)
    write_json(directory / ENCODER_FILE, encoder)


def write_token_states(directory: Path, captions: list[str], tokens: TokenCache) -> None:
    """tokens.npy and token_lengths.npy, streamed to disk a caption at a time.

    The padded length is the longest caption's, not the model's limit (256 or 512 tokens would make the file
    ten times larger than the captions need); the width is the LM's hidden size, whatever the pooled width.
    """
    lengths_by_caption = {c: tokens.get(c).shape for c in dict.fromkeys(captions)}
    longest = max((shape[0] for shape in lengths_by_caption.values()), default=0)
    width = next(iter(lengths_by_caption.values()), (0, 0))[1]
    states = np.lib.format.open_memmap(
        directory / TOKENS_FILE, mode="w+", dtype=np.float16, shape=(len(captions), longest, width)
    )
    lengths = np.zeros(len(captions), dtype=np.int32)
    for row, caption in enumerate(captions):
        caption_states = tokens.get(caption)
        lengths[row] = len(caption_states)
        states[row, : len(caption_states)] = caption_states
        states[row, len(caption_states) :] = 0
    states.flush()
    del states
    np.save(directory / TOKEN_LENGTHS_FILE, lengths)


def read_encoder_record(directory: Path) -> dict[str, Any]:
    """encoder.json of an embeddings or an exported model directory."""
    path = directory / ENCODER_FILE
    if not path.is_file():
        raise StageInputError(f"{path}: not found (run `t2igan embed` first)")
    record: dict[str, Any] = read_json(path)
    return record


@dataclass(frozen=True)
class TokenStates:
    """Every caption's token states, memory-mapped: a batch reads its own rows from disk, nothing more."""

    states: np.ndarray  # float16 [N, longest caption, W], zero-padded (np.memmap)
    lengths: np.ndarray  # int32 [N], tokens per caption

    @property
    def width(self) -> int:
        return int(self.states.shape[2])


def load_token_states(directory: Path, expected_rows: int) -> TokenStates:
    """tokens.npy and token_lengths.npy, checked against the clean manifest (for word attention)."""
    path, lengths_path = directory / TOKENS_FILE, directory / TOKEN_LENGTHS_FILE
    if not path.is_file() or not lengths_path.is_file():
        raise StageInputError(
            f"{path}: not found; word attention reads the captions' token states "
            "(set embed.token_states: true and run `t2igan embed`)"
        )
    states = np.load(path, mmap_mode="r")
    lengths = np.load(lengths_path)
    if states.shape[0] != expected_rows or lengths.shape[0] != expected_rows:
        raise StageInputError(
            f"{path}: token states of {states.shape[0]} captions for {expected_rows} manifest rows "
            "(re-run `t2igan embed`)"
        )
    return TokenStates(states, lengths)


def load_embeddings(directory: Path, expected_rows: int) -> Embeddings:
    """Read embed's outputs and check they line up with the clean manifest."""
    vectors_path = directory / EMBEDDINGS_FILE
    if not vectors_path.is_file():
        raise StageInputError(f"{vectors_path}: not found (run `t2igan embed` first)")
    vectors = np.load(vectors_path, mmap_mode="r")
    if vectors.shape[0] != expected_rows:
        raise StageInputError(
            f"{vectors_path}: {vectors.shape[0]} embeddings for {expected_rows} manifest rows "
            "(re-run `t2igan embed`)"
        )
    return Embeddings(np.asarray(vectors, dtype=np.float32), read_encoder_record(directory))
