"""A sentence-transformers directory, as the installed sentence-transformers saves it, read whole: its pooling
in either format, a Dense layer after it, a Normalize; anything else refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from t2igan.config import EmbedParams
from t2igan.errors import ConfigError
from t2igan.text.encoder import TextEncoder, encoder_from_params
from t2igan.text.spec import spec_from_params
from tests.support.tiny_lms import WIDTH, build

CAPTIONS = ["a small red circle on the left", "a large blue square", "a green triangle at the top right"]


def _saved(directory: Path, *, normalize: bool, out_features: int = 16) -> Path:
    """The tiny BERT with mean pooling and a Dense layer (and a Normalize), saved by sentence-transformers."""
    from sentence_transformers import SentenceTransformer, models

    transformer = models.Transformer(str(build("bert", directory / "lm")), max_seq_length=48)
    pooling = models.Pooling(WIDTH, pooling_mode="mean")
    dense = models.Dense(WIDTH, out_features)  # tanh, sentence-transformers' default
    modules = [transformer, pooling, dense, *([models.Normalize()] if normalize else [])]
    target = directory / "st"
    SentenceTransformer(modules=modules, device="cpu").save(str(target))
    return target


def _encoder(directory: Path, **fields: object) -> TextEncoder:
    return encoder_from_params(EmbedParams(encoder=str(directory), **fields), directory)  # type: ignore[arg-type]


def _reference(directory: Path) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(directory), device="cpu").encode(CAPTIONS)


def test_a_directory_with_a_dense_layer_and_a_normalize_gives_the_library_s_vectors(tmp_path: Path) -> None:
    directory = _saved(tmp_path, normalize=True)
    assert json.loads((directory / "1_Pooling" / "config.json").read_text())["pooling_mode"] == "mean"
    encoder = _encoder(directory)
    assert (encoder.spec.pooling, encoder.spec.head, encoder.dim) == (
        "mean",
        ("dense:2_Dense:tanh", "normalize"),
        16,
    )
    np.testing.assert_allclose(encoder.encode(CAPTIONS), _reference(directory), atol=1e-5)


def test_the_older_flag_format_and_a_dense_layer_without_normalize_give_the_library_s_vectors(
    tmp_path: Path,
) -> None:
    directory = _saved(tmp_path, normalize=False, out_features=8)
    flags = {
        "word_embedding_dimension": WIDTH,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_cls_token": False,
    }
    (directory / "1_Pooling" / "config.json").write_text(json.dumps(flags))
    encoder = _encoder(directory, normalize=False)  # the library's vectors are not normalised either
    assert encoder.spec.head == ("dense:2_Dense:tanh",) and encoder.dim == 8
    np.testing.assert_allclose(encoder.encode(CAPTIONS), _reference(directory), atol=1e-5)


def test_the_head_keys_the_cache_and_a_directory_without_one_keeps_its_old_key(tmp_path: Path) -> None:
    with_head = _saved(tmp_path, normalize=True)
    spec, _ = spec_from_params(EmbedParams(encoder=str(with_head)), tmp_path)
    assert spec.record()["head"] == ["dense:2_Dense:tanh", "normalize"]
    plain, _ = spec_from_params(EmbedParams(encoder=str(build("bert", tmp_path / "plain"))), tmp_path)
    assert "head" not in plain.record()  # the spec as written before heads were read: the same fingerprint
    # a pooling named in params is the transformer pooled that way alone: the Dense came with the directory's
    named, _ = spec_from_params(EmbedParams(encoder=str(with_head), pooling="mean"), tmp_path)
    assert named.head == () and named.fingerprint != spec.fingerprint


@pytest.mark.parametrize(
    ("kind", "where"),
    [("sentence_transformers.models.WordWeights", "2_WordWeights"), ("sentence_transformers.models.LSTM", "")],
)
def test_a_module_t2igan_does_not_read_is_refused_in_one_line(tmp_path: Path, kind: str, where: str) -> None:
    directory = _saved(tmp_path, normalize=True)
    modules = json.loads((directory / "modules.json").read_text())
    modules.insert(2, {"idx": 9, "name": "9", "path": where, "type": kind})
    (directory / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ConfigError) as refused:
        spec_from_params(EmbedParams(encoder=str(directory)), tmp_path)
    message = str(refused.value)
    assert "\n" not in message and f"module {kind.rsplit('.', 1)[-1]}" in message and "modules.json" in message


def test_an_activation_t2igan_does_not_read_is_refused_in_one_line(tmp_path: Path) -> None:
    directory = _saved(tmp_path, normalize=True)
    config_file = directory / "2_Dense" / "config.json"
    config = json.loads(config_file.read_text())
    config["activation_function"] = "mypackage.CustomActivation"
    config_file.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"activation mypackage\.CustomActivation is not one t2igan reads"):
        spec_from_params(EmbedParams(encoder=str(directory)), tmp_path)
