"""Embed: every clean caption through the frozen text encoder, once per encoder fingerprint.

Outputs (data/embeddings/): embeddings.npy (float32, one row per clean-manifest row, same order) and
encoder.json (the encoder spec and fingerprint, which later stages check and the registered model reuses).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from t2igan.config import Params, resolve_device
from t2igan.data.manifest import read_manifest
from t2igan.errors import StageInputError
from t2igan.io import atomic_dir, atomic_path, read_json, write_json
from t2igan.paths import ProjectPaths
from t2igan.text.cache import EmbeddingCache
from t2igan.text.encoder import TextEncoder

log = logging.getLogger(__name__)

EMBEDDINGS_FILE = "embeddings.npy"
ENCODER_FILE = "encoder.json"


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
        device=device or resolve_device(cfg.device),
    )


def run(params: Params, paths: ProjectPaths) -> EmbedResult:
    manifest = read_manifest(paths.clean_manifest)
    captions = manifest["caption"].tolist()
    encoder = load_encoder(params)
    cache = EmbeddingCache(paths.cache_dir, encoder.spec.fingerprint)
    todo = cache.missing(captions)
    distinct = len(dict.fromkeys(captions))
    log.info("embedding %d new of %d distinct captions (%d cached)", len(todo), distinct, distinct - len(todo))
    cache.put(todo, encoder.encode(todo, batch_size=params.embed.batch_size, progress=True))
    vectors = cache.get(captions)

    result = EmbedResult(
        captions=len(captions),
        distinct=distinct,
        encoded=len(todo),
        from_cache=distinct - len(todo),
        dim=encoder.dim,
        fingerprint=encoder.spec.fingerprint,
    )
    with atomic_dir(paths.embeddings_dir) as staging:
        with atomic_path(staging / EMBEDDINGS_FILE) as tmp, open(tmp, "wb") as handle:
            np.save(handle, vectors)
        write_json(
            staging / ENCODER_FILE,
            {
                "spec": asdict(encoder.spec),
                "fingerprint": encoder.spec.fingerprint,
                "dim": encoder.dim,
                "path": str(encoder.path),
            },
        )
    write_json(paths.metrics("embed"), asdict(result))
    return result


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
