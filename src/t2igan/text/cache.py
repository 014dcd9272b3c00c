"""Content-addressed embedding cache: a caption is encoded once per encoder fingerprint.

Layout: `<cache>/embeddings/<fingerprint>/shard-*.npz`, each shard holding sha256 keys of caption texts,
their vectors and their token counts before truncation (so a re-embed can say which captions the model's
length limit cut without tokenizing them again). New vectors go to a new shard written atomically, so a
crash never corrupts what is cached, and an incremental run only appends. Lookups load all shards of the
fingerprint into one index.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import numpy as np

from t2igan.io import atomic_path


def caption_key(caption: str) -> bytes:
    return hashlib.sha256(caption.encode("utf-8")).digest()


class EmbeddingCache:
    def __init__(self, root: Path, fingerprint: str) -> None:
        self.directory = root / "embeddings" / fingerprint
        self._index: dict[bytes, tuple[int, int]] = {}
        self._shards: list[np.ndarray] = []
        self._lengths: list[np.ndarray] = []
        self._load()

    def _load(self) -> None:
        for shard_path in sorted(self.directory.glob("shard-*.npz")):
            with np.load(shard_path) as shard:
                self._add(shard["keys"], shard["vectors"], shard["lengths"])

    def _add(self, keys: np.ndarray, vectors: np.ndarray, lengths: np.ndarray) -> None:
        shard_number = len(self._shards)
        self._shards.append(vectors)
        self._lengths.append(lengths)
        for row, key in enumerate(keys):
            self._index[key.tobytes()] = (shard_number, row)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, caption: str) -> bool:
        return caption_key(caption) in self._index

    def missing(self, captions: list[str]) -> list[str]:
        """Distinct captions not yet cached, in first-seen order."""
        return [c for c in dict.fromkeys(captions) if caption_key(c) not in self._index]

    def put(self, captions: list[str], vectors: np.ndarray, lengths: list[int]) -> None:
        """Cache `vectors` of `captions`, with each caption's token count before truncation."""
        if not captions:
            return
        keys = np.frombuffer(b"".join(caption_key(c) for c in captions), dtype=np.uint8).reshape(-1, 32)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        token_counts = np.asarray(lengths, dtype=np.int64)
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"shard-{uuid.uuid4().hex}.npz"
        with atomic_path(target) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, keys=keys, vectors=vectors, lengths=token_counts)
        self._add(keys, vectors, token_counts)

    def get(self, captions: list[str]) -> np.ndarray:
        """Vectors for `captions` in order; every caption must be cached."""
        rows = [self._index[caption_key(c)] for c in captions]
        dim = self._shards[0].shape[1] if self._shards else 0
        out = np.empty((len(captions), dim), dtype=np.float32)
        for i, (shard, row) in enumerate(rows):
            out[i] = self._shards[shard][row]
        return out

    def token_counts(self, captions: list[str]) -> list[int]:
        """Tokens of each cached caption before truncation."""
        return [
            int(self._lengths[shard][row]) for shard, row in (self._index[caption_key(c)] for c in captions)
        ]


class TokenCache:
    """Per-caption token states (ragged, float16) under `<cache>/tokens/<fingerprint>/shard-*.npz`.

    Kept apart from the sentence cache: token states are ~20x larger and only attention models want them.
    """

    def __init__(self, root: Path, fingerprint: str) -> None:
        self.directory = root / "tokens" / fingerprint
        self._index: dict[bytes, tuple[int, int, int]] = {}
        self._shards: list[np.ndarray] = []
        for shard_path in sorted(self.directory.glob("shard-*.npz")):
            with np.load(shard_path) as shard:
                self._add(shard["keys"], shard["lengths"], shard["states"])

    def _add(self, keys: np.ndarray, lengths: np.ndarray, states: np.ndarray) -> None:
        shard_number = len(self._shards)
        self._shards.append(states)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else np.zeros(0, np.int64)
        for key, offset, length in zip(keys, offsets, lengths, strict=True):
            self._index[key.tobytes()] = (shard_number, int(offset), int(length))

    def missing(self, captions: list[str]) -> list[str]:
        return [c for c in dict.fromkeys(captions) if caption_key(c) not in self._index]

    def put(self, captions: list[str], states: list[np.ndarray]) -> None:
        if not captions:
            return
        keys = np.frombuffer(b"".join(caption_key(c) for c in captions), dtype=np.uint8).reshape(-1, 32)
        lengths = np.array([len(s) for s in states], dtype=np.int64)
        flat = np.concatenate(states).astype(np.float16)
        self.directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.directory / f"shard-{uuid.uuid4().hex}.npz") as tmp, open(tmp, "wb") as handle:
            np.savez(handle, keys=keys, lengths=lengths, states=flat)
        self._add(keys, lengths, flat)

    def get(self, caption: str) -> np.ndarray:
        shard, offset, length = self._index[caption_key(caption)]
        return self._shards[shard][offset : offset + length]
