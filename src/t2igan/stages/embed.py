"""Embed: every clean caption through the frozen text encoder, once per encoder fingerprint.

Outputs (data/embeddings/): embeddings.npy (float32, one row per clean-manifest row, same order) and
encoder.json (the encoder spec and fingerprint, which later stages check and the registered model reuses).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from t2igan.config import Params, resolve_device
from t2igan.data.manifest import read_manifest
from t2igan.errors import StageInputError
from t2igan.io import atomic_dir, atomic_path, read_json, write_json
from t2igan.paths import ProjectPaths
from t2igan.text.cache import EmbeddingCache, TokenCache
from t2igan.text.encoder import EncoderSpec, TextEncoder, cached_weights_hash, resolve_encoder_path

log = logging.getLogger(__name__)

EMBEDDINGS_FILE = "embeddings.npy"
ENCODER_FILE = "encoder.json"
TOKENS_FILE = "tokens.npy"
TOKEN_LENGTHS_FILE = "token_lengths.npy"


@dataclass(frozen=True)
class EmbedResult:
    captions: int
    distinct: int
    encoded: int
    from_cache: int
    dim: int
    fingerprint: str


def load_encoder(params: Params, device: str | None = None) -> TextEncoder:
    cfg = params.embed
    return TextEncoder.from_name(
        cfg.encoder,
        pooling=cfg.pooling,
        normalize=cfg.normalize,
        max_length=cfg.max_length,
        precision=cfg.precision,
        device=device or resolve_device(cfg.device),
    )


def encoder_spec(params: Params, cache_dir: Path) -> tuple[EncoderSpec, Path]:
    """The encoder's identity without loading it: when every caption is cached, no model is loaded at all."""
    cfg = params.embed
    path = resolve_encoder_path(cfg.encoder)
    spec = EncoderSpec(
        name=cfg.encoder,
        weights_sha256=cached_weights_hash(path, cache_dir),
        pooling=cfg.pooling,
        normalize=cfg.normalize,
        max_length=cfg.max_length,
        precision=cfg.precision,
    )
    return spec, path


def run(params: Params, paths: ProjectPaths) -> EmbedResult:
    manifest = read_manifest(paths.clean_manifest)
    captions = manifest["caption"].tolist()
    spec, encoder_path = encoder_spec(params, paths.cache_dir)
    fingerprint = spec.fingerprint
    cache = EmbeddingCache(paths.cache_dir, fingerprint)
    tokens = TokenCache(paths.cache_dir, fingerprint) if params.embed.token_states else None
    todo = cache.missing(captions)
    if tokens is not None:  # a caption needs encoding if either of its records is missing
        todo = list(dict.fromkeys(todo + tokens.missing(captions)))
    distinct = len(dict.fromkeys(captions))
    log.info("embedding %d new of %d distinct captions (%d cached)", len(todo), distinct, distinct - len(todo))
    if todo:
        encoder = load_encoder(params)
        if encoder.spec != spec:  # pragma: no cover - both derive from the same params and files
            raise StageInputError(f"encoder at {encoder.path} changed while embedding; run again")
        vectors_new, states_new = encoder.encode_with_tokens(
            todo, batch_size=params.embed.batch_size, progress=True, tokens=tokens is not None
        )
        cache.put(todo, vectors_new)
        if tokens is not None:
            tokens.put(todo, states_new)
    vectors = cache.get(captions)
    dim = int(vectors.shape[1])

    result = EmbedResult(
        captions=len(captions),
        distinct=distinct,
        encoded=len(todo),
        from_cache=distinct - len(todo),
        dim=dim,
        fingerprint=fingerprint,
    )
    with atomic_dir(paths.embeddings_dir) as staging:
        with atomic_path(staging / EMBEDDINGS_FILE) as tmp, open(tmp, "wb") as handle:
            np.save(handle, vectors)
        if tokens is not None:
            _write_tokens(staging, captions, tokens, params.embed.max_length, dim)
        write_json(
            staging / ENCODER_FILE,
            {"spec": asdict(spec), "fingerprint": fingerprint, "dim": dim, "path": str(encoder_path)},
        )
    write_json(paths.metrics("embed"), asdict(result))
    return result


def _write_tokens(directory: Path, captions: list[str], tokens: TokenCache, max_length: int, dim: int) -> None:
    """tokens.npy (float16 [N, max_length, D], zero-padded) and token_lengths.npy, streamed to disk."""
    states = np.lib.format.open_memmap(
        directory / TOKENS_FILE, mode="w+", dtype=np.float16, shape=(len(captions), max_length, dim)
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


@dataclass(frozen=True)
class Embeddings:
    vectors: np.ndarray
    encoder: dict[str, object]

    @property
    def fingerprint(self) -> str:
        return str(self.encoder["fingerprint"])


def load_embeddings(paths: ProjectPaths, expected_rows: int) -> Embeddings:
    """Read embed's outputs and check they line up with the clean manifest."""
    vectors_path = paths.embeddings_dir / EMBEDDINGS_FILE
    if not vectors_path.is_file():
        raise StageInputError(f"{vectors_path}: not found (run `t2igan embed` first)")
    vectors = np.load(vectors_path, mmap_mode="r")
    if vectors.shape[0] != expected_rows:
        raise StageInputError(
            f"{vectors_path}: {vectors.shape[0]} embeddings for {expected_rows} manifest rows "
            "(re-run `t2igan embed`)"
        )
    return Embeddings(np.asarray(vectors, dtype=np.float32), read_json(paths.embeddings_dir / ENCODER_FILE))
