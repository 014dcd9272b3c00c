"""The embed stage: every clean caption once, only new captions encoded again, token states on request."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from t2igan.config import Params
from t2igan.io import read_json
from t2igan.paths import ProjectPaths
from t2igan.stages import embed
from t2igan.text.embeddings import EMBEDDINGS_FILE, TOKEN_LENGTHS_FILE, TOKENS_FILE, load_embeddings
from t2igan.text.encoder import TextEncoder, encoder_from_params
from t2igan.text.locate import resolve_encoder_path

# The stage's own cache counts are the subject here: each project starts with an empty cache.
pytestmark = pytest.mark.own_cache


def test_embed_stage_encodes_only_new_captions(
    validated: ProjectPaths, tiny_params: Params, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = validated
    first = embed.run(tiny_params, project)
    assert first.encoded == first.distinct > 0 and first.from_cache == 0
    vectors = np.load(project.embeddings_dir / EMBEDDINGS_FILE)
    assert vectors.shape == (first.captions, 384)
    assert load_embeddings(project.embeddings_dir, first.captions).fingerprint == first.fingerprint

    calls: list[int] = []
    original = TextEncoder.encode_with_tokens

    def counting(self: TextEncoder, captions: list[str], *args: object, **kwargs: object) -> object:
        calls.append(len(captions))
        return original(self, captions, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(TextEncoder, "encode_with_tokens", counting)
    second = embed.run(tiny_params, project)
    assert second.encoded == 0 and second.from_cache == first.distinct and calls == []  # no model loaded
    np.testing.assert_array_equal(np.load(project.embeddings_dir / EMBEDDINGS_FILE), vectors)

    # Ten new captions cost ten encodings, not a re-embed of everything.
    manifest = pd.read_parquet(project.clean_manifest)
    extra = manifest.head(10).assign(
        caption=[f"new caption number {i}" for i in range(10)], id=[f"new-{i}" for i in range(10)]
    )
    pd.concat([manifest, extra]).to_parquet(project.clean_manifest, index=False)
    third = embed.run(tiny_params, project)
    assert third.encoded == 10 and calls[-1] == 10
    fresh = encoder_from_params(tiny_params.embed, resolve_encoder_path(tiny_params.embed.encoder))
    stored = np.load(project.embeddings_dir / EMBEDDINGS_FILE)
    np.testing.assert_allclose(stored[-10:], fresh.encode(extra["caption"].tolist()), atol=1e-5)


def test_token_states_are_written_and_cached(validated: ProjectPaths, tiny_params: Params) -> None:
    project = validated
    params = tiny_params.model_copy(
        update={"embed": tiny_params.embed.model_copy(update={"token_states": True})}
    )
    first = embed.run(params, project)
    states = np.load(project.embeddings_dir / TOKENS_FILE, mmap_mode="r")
    lengths = np.load(project.embeddings_dir / TOKEN_LENGTHS_FILE)
    # padded to the longest caption, not to the model's 256-token limit
    assert states.shape == (first.captions, lengths.max(), 384) and states.dtype == np.float16
    assert (lengths > 2).all() and not states[0, lengths[0] :].any()
    # The mean of a caption's token states is its (unnormalised) sentence embedding.
    vectors = np.load(project.embeddings_dir / EMBEDDINGS_FILE)
    mean = states[0, : lengths[0]].astype(np.float32).mean(0)
    assert float(mean @ vectors[0] / np.linalg.norm(mean)) > 0.999
    assert embed.run(params, project).encoded == 0  # both records cached


def test_captions_longer_than_the_model_reads_are_counted_and_named(
    validated: ProjectPaths, tiny_params: Params, caplog: pytest.LogCaptureFixture
) -> None:
    project = validated
    params = tiny_params.model_copy(update={"embed": tiny_params.embed.model_copy(update={"max_length": 8})})
    captions = pd.read_parquet(project.clean_manifest)["caption"]
    encoder = encoder_from_params(params.embed, resolve_encoder_path(params.embed.encoder))
    distinct = list(dict.fromkeys(captions))
    over = sum(n > 8 for n in encoder.token_lengths(distinct))
    assert over > 0
    with caplog.at_level("WARNING"):
        result = embed.run(params, project)
    assert (result.truncated, result.max_length, result.family) == (over, 8, "encoder")
    assert read_json(project.metrics("embed"))["truncated"] == over
    assert f"{over} of {len(distinct)} distinct captions are longer than the 8 tokens" in caplog.text
    with caplog.at_level("WARNING"):  # from the cache, the count is the same without tokenizing again
        assert embed.run(params, project).truncated == over
    assert embed.run(tiny_params, project).truncated == 0  # the default reads MiniLM's 256
