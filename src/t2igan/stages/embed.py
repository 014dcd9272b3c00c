"""Embed: every clean caption through the frozen text encoder, once per encoder fingerprint.

Outputs: data/embeddings/ (see t2igan.text.embeddings for the files) and metrics/embed.json.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from t2igan.config import Params
from t2igan.data.manifest import read_clean_manifest
from t2igan.io import atomic_dir, write_json
from t2igan.paths import ProjectPaths
from t2igan.text.embeddings import write_token_states, write_vectors
from t2igan.text.incremental import embed_captions


@dataclass(frozen=True)
class EmbedResult:
    captions: int
    distinct: int
    encoded: int
    from_cache: int
    dim: int
    fingerprint: str
    family: str  # of the language model (t2igan.text.families)
    max_length: int  # tokens it reads per caption
    truncated: int  # distinct captions longer than that, cut (the log names them)


def run(params: Params, paths: ProjectPaths) -> EmbedResult:
    captions = read_clean_manifest(paths)["caption"].tolist()
    embedded = embed_captions(captions, params.embed, paths.cache_dir)
    with atomic_dir(paths.embeddings_dir) as staging:
        write_vectors(staging, embedded.vectors, embedded.encoder_record())
        if embedded.tokens is not None:
            write_token_states(staging, captions, embedded.tokens)
    result = EmbedResult(
        captions=len(captions),
        distinct=embedded.distinct,
        encoded=embedded.encoded,
        from_cache=embedded.distinct - embedded.encoded,
        dim=embedded.dim,
        fingerprint=embedded.spec.fingerprint,
        family=embedded.spec.family,
        max_length=embedded.spec.max_length,
        truncated=len(embedded.truncated),
    )
    write_json(paths.metrics("embed"), asdict(result))
    return result
