"""Embedding a caption list through the content-addressed caches: only captions never seen are encoded.

The encoder is identified by its fingerprint before it is loaded, so a run where every caption is cached
loads no model at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from t2igan.config import EmbedParams
from t2igan.errors import StageInputError
from t2igan.text.cache import EmbeddingCache, TokenCache
from t2igan.text.encoder import encoder_from_params
from t2igan.text.spec import EncoderSpec, spec_from_params

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Embedded:
    vectors: np.ndarray  # one row per caption, in the given order
    spec: EncoderSpec
    encoder_path: Path
    distinct: int  # distinct captions
    encoded: int  # of those, encoded now (the rest came from the cache)
    tokens: TokenCache | None  # per-token states, when asked for
    truncated: list[str]  # distinct captions longer than the encoder reads (spec.max_length), cut

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def encoder_record(self) -> dict[str, object]:
        """What encoder.json holds: the spec, its fingerprint, the width and where the files were."""
        return {
            "spec": self.spec.record(),
            "fingerprint": self.spec.fingerprint,
            "dim": self.dim,
            "path": str(self.encoder_path),
        }


def embed_captions(captions: list[str], cfg: EmbedParams, cache_dir: Path) -> Embedded:
    spec, path = spec_from_params(cfg, cache_dir)
    cache = EmbeddingCache(cache_dir, spec.fingerprint)
    tokens = TokenCache(cache_dir, spec.fingerprint) if cfg.token_states else None
    todo = cache.missing(captions)
    if tokens is not None:  # a caption needs encoding if either of its records is missing
        todo = list(dict.fromkeys(todo + tokens.missing(captions)))
    distinct = len(dict.fromkeys(captions))
    log.info("embedding %d new of %d distinct captions (%d cached)", len(todo), distinct, distinct - len(todo))
    if todo:
        encoder = encoder_from_params(cfg, path)
        if encoder.spec != spec:  # pragma: no cover - both derive from the same params and files
            raise StageInputError(f"encoder at {encoder.path} changed while embedding; run again")
        encoded = encoder.encode_with_tokens(
            todo,
            batch_size=cfg.batch_size,
            progress=True,
            tokens=tokens is not None,
            batch_tokens=cfg.batch_tokens,
        )
        cache.put(todo, encoded.vectors, encoded.lengths)
        if tokens is not None:
            tokens.put(todo, encoded.states)
    truncated = _truncated(list(dict.fromkeys(captions)), cache, spec)
    return Embedded(cache.get(captions), spec, path, distinct, len(todo), tokens, truncated)


def _truncated(distinct: list[str], cache: EmbeddingCache, spec: EncoderSpec) -> list[str]:
    """Captions the length limit cut, named in the log: a cut caption conditions on what was read."""
    cut = [c for c, n in zip(distinct, cache.token_counts(distinct), strict=True) if n > spec.max_length]
    if cut:
        examples = "; ".join(repr(c[:80]) for c in cut[:3])
        log.warning(
            "%d of %d distinct captions are longer than the %d tokens %s reads and were cut "
            "(embed.max_length): %s%s",
            len(cut),
            len(distinct),
            spec.max_length,
            spec.name,
            examples,
            "; ..." if len(cut) > 3 else "",
        )
    return cut
