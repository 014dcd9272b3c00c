"""Every language-model family people bring, as tiny random models built here: detected from the checkpoint's
own config, pooled the family's way, equal to what `transformers` itself computes, padding-invariant."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from t2igan.config import EmbedParams
from t2igan.errors import ConfigError
from t2igan.text.encoder import TextEncoder, encoder_from_params
from t2igan.text.spec import spec_from_params
from tests.support.tiny_lms import KINDS, PROJECTION, WIDTH, build, sentence_transformers_dir

CAPTIONS = ["a red circle", "a large blue square in the center on a black background", "x"]
EXPECTED = {  # family, pooling chosen by `auto`, sentence width
    "bert": ("encoder", "mean", WIDTH),
    "gpt2": ("decoder", "last", WIDTH),
    "qwen2": ("decoder", "last", WIDTH),
    "t5": ("encoder-decoder", "mean", WIDTH),
    "clip": ("clip", "tower", PROJECTION),
    "siglip": ("siglip", "tower", WIDTH),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lms")
    return {kind: build(kind, root) for kind in KINDS}


def _encoder(path: Path, **fields: object) -> TextEncoder:
    return encoder_from_params(EmbedParams(encoder=str(path), **fields), path)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
def test_each_family_is_detected_pooled_its_way_and_batch_invariant(models: dict[str, Path], kind: str) -> None:
    encoder = _encoder(models[kind])
    family, pooling, width = EXPECTED[kind]
    assert (encoder.spec.family, encoder.spec.pooling, encoder.dim) == (family, pooling, width)
    batched = encoder.encode(CAPTIONS, batch_size=3)
    assert batched.shape == (3, width) and np.isfinite(batched).all()
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    # padding (right for GPT-2, left for the Qwen tokenizer, full length for SigLIP) changes nothing
    alone = np.concatenate([encoder.encode([caption]) for caption in CAPTIONS])
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    assert not np.allclose(batched[0], batched[1], atol=1e-3)


def test_gpt2_has_no_pad_token_and_eos_stands_in(models: dict[str, Path]) -> None:
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(models["gpt2"]).pad_token is None
    encoder = _encoder(models["gpt2"])
    assert encoder.tokenizer.pad_token == encoder.tokenizer.eos_token == "<|endoftext|>"


def test_decoder_last_token_is_the_causal_model_s_state_at_the_caption_s_end(models: dict[str, Path]) -> None:
    from transformers import AutoModel, AutoTokenizer

    encoder = _encoder(models["qwen2"], normalize=False)
    tokenizer = AutoTokenizer.from_pretrained(models["qwen2"])
    model = AutoModel.from_pretrained(models["qwen2"]).eval()
    with torch.no_grad():
        ids = tokenizer(CAPTIONS[1], return_tensors="pt")["input_ids"]
        expected = model(input_ids=ids).last_hidden_state[0, -1].numpy()
    np.testing.assert_allclose(encoder.encode([CAPTIONS[1], "x"])[0], expected, atol=1e-5)


def test_t5_loads_its_encoder_alone(models: dict[str, Path]) -> None:
    assert type(_encoder(models["t5"]).model).__name__ == "T5EncoderModel"


def test_clip_is_the_text_tower_s_projected_embedding(models: dict[str, Path], tmp_path: Path) -> None:
    from transformers import AutoTokenizer, CLIPModel

    encoder = _encoder(models["clip"], normalize=False)
    full = CLIPModel.from_pretrained(models["clip"]).eval()
    tokenizer = AutoTokenizer.from_pretrained(models["clip"])
    with torch.no_grad():
        batch = tokenizer(CAPTIONS, padding=True, return_tensors="pt")
        features = full.get_text_features(**batch)
        expected = getattr(features, "pooler_output", features).numpy()
    np.testing.assert_allclose(encoder.encode(CAPTIONS), expected, atol=1e-5)
    # a text-only checkpoint (CLIPTextModelWithProjection) gives the same vectors
    text_only = tmp_path / "clip-text"
    from transformers import CLIPTextModelWithProjection

    text_config = full.config.text_config
    text_config.projection_dim = PROJECTION
    tower = CLIPTextModelWithProjection.from_pretrained(models["clip"], config=text_config)
    tower.save_pretrained(text_only)
    tokenizer.save_pretrained(text_only)
    np.testing.assert_allclose(_encoder(text_only, normalize=False).encode(CAPTIONS), expected, atol=1e-5)


def test_siglip_pads_to_its_full_length_as_it_was_trained(models: dict[str, Path]) -> None:
    from transformers import AutoTokenizer, SiglipModel

    encoder = _encoder(models["siglip"], normalize=False)
    full = SiglipModel.from_pretrained(models["siglip"]).eval()
    tokenizer = AutoTokenizer.from_pretrained(models["siglip"])
    with torch.no_grad():
        ids = tokenizer(CAPTIONS, padding="max_length", max_length=encoder.spec.max_length, return_tensors="pt")
        features = full.get_text_features(input_ids=ids["input_ids"])
        expected = getattr(features, "pooler_output", features).numpy()
    np.testing.assert_allclose(encoder.encode(CAPTIONS), expected, atol=1e-5)


def test_a_chosen_layer_changes_the_vectors_and_the_fingerprint(models: dict[str, Path]) -> None:
    last, penultimate = _encoder(models["gpt2"]), _encoder(models["gpt2"], layer=-2)
    assert penultimate.spec.fingerprint != last.spec.fingerprint
    assert not np.allclose(penultimate.encode(CAPTIONS), last.encode(CAPTIONS), atol=1e-3)
    mean = _encoder(models["gpt2"], pooling="mean")
    assert mean.spec.pooling == "mean" and not np.allclose(mean.encode(CAPTIONS), last.encode(CAPTIONS))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"layer": 9}, "embed.layer: 9 is outside the 2 layers of gpt2"),
        ({"max_length": 100}, "embed.max_length: 100 is more than the 64 positions of gpt2"),
    ],
)
def test_impossible_settings_fail_in_one_line(
    models: dict[str, Path], tmp_path: Path, fields: dict[str, int], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        spec_from_params(EmbedParams(encoder=str(models["gpt2"]), **fields), tmp_path)  # type: ignore[arg-type]


def test_a_tower_s_own_embedding_has_no_other_layer(models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"set embed\.pooling to mean or last"):
        spec_from_params(EmbedParams(encoder=str(models["clip"]), layer=-2), tmp_path)
    assert spec_from_params(EmbedParams(encoder=str(models["clip"]), layer=-2, pooling="last"), tmp_path)


def test_an_unsupported_architecture_is_named_with_what_is_supported(tmp_path: Path) -> None:
    from transformers import ViTConfig, ViTModel

    vit = tmp_path / "vit"
    ViTModel(
        ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    ).save_pretrained(vit)
    with pytest.raises(ConfigError) as failure:
        spec_from_params(EmbedParams(encoder=str(vit)), tmp_path)
    message = str(failure.value)
    assert "\n" not in message and "is a 'vit' (ViTModel) model" in message and "supported: encoder" in message
    assert "CLIP, SigLIP" in message


def test_a_sentence_transformers_directory_s_own_pooling_and_length_are_honoured(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    directory = sentence_transformers_dir(tmp_path, pooling="cls", max_seq_length=40)
    encoder = _encoder(directory)
    assert (encoder.spec.pooling, encoder.spec.max_length) == ("cls", 40)
    reference = SentenceTransformer(str(directory), device="cpu").encode(CAPTIONS)
    np.testing.assert_allclose(encoder.encode(CAPTIONS), reference, atol=1e-5)


def test_an_unsupported_sentence_transformers_pooling_is_refused(tmp_path: Path) -> None:
    directory = sentence_transformers_dir(tmp_path)
    config = directory / "1_Pooling" / "config.json"
    config.write_text(json.dumps({"pooling_mode_weightedmean_tokens": True}))
    with pytest.raises(ConfigError, match="pooling_mode_weightedmean_tokens is not supported"):
        spec_from_params(EmbedParams(encoder=str(directory)), tmp_path)
    # naming a pooling in params overrides the directory's
    assert spec_from_params(EmbedParams(encoder=str(directory), pooling="mean"), tmp_path)[0].pooling == "mean"


def test_batches_keep_to_the_token_budget(models: dict[str, Path]) -> None:
    encoder = _encoder(models["bert"])
    lengths = [3, 40, 5, 7, 64, 2, 9, 11]
    batches = encoder.batches(lengths, batch_size=3, batch_tokens=64)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 3 and (len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 64)
    assert [lengths[i] for batch in batches for i in batch] == sorted(lengths)  # similar lengths together


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_weights_are_close_and_fingerprinted(models: dict[str, Path], dtype: str) -> None:
    full, half = _encoder(models["bert"]), _encoder(models["bert"], dtype=dtype)
    assert next(half.model.parameters()).dtype == getattr(torch, dtype)
    assert half.spec.fingerprint != full.spec.fingerprint and half.spec.dtype == dtype
    cosine = (half.encode(CAPTIONS) * full.encode(CAPTIONS)).sum(1)
    assert cosine.min() > 0.99
