"""Where a language model's files come from: only what loads from a hub repository, at a revision that the
encoder's spec records (offline here: a Hugging Face cache with two commits of one repository)."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import constants
from huggingface_hub.utils import filter_repo_objects

from t2igan.config import EmbedParams
from t2igan.errors import ConfigError
from t2igan.text.locate import OTHER_FORMATS, hub_commit, hub_patterns, resolve_encoder_path
from t2igan.text.spec import spec_from_params

# sentence-transformers/all-MiniLM-L6-v2's files, as the hub lists them
MINILM_FILES = [
    ".gitattributes", "1_Pooling/config.json", "README.md", "config.json", "config_sentence_transformers.json",
    "data_config.json", "model.safetensors", "modules.json", "onnx/model.onnx", "onnx/model_O1.onnx",
    "onnx/model_qint8_avx512.onnx", "openvino/openvino_model.bin", "openvino/openvino_model.xml",
    "pytorch_model.bin", "rust_model.ot", "sentence_bert_config.json", "special_tokens_map.json",
    "tf_model.h5", "tokenizer.json", "tokenizer_config.json", "train_script.py", "vocab.txt",
]  # fmt: skip
LOADED = {
    "1_Pooling/config.json", "config.json", "config_sentence_transformers.json", "data_config.json",
    "model.safetensors", "modules.json", "sentence_bert_config.json", "special_tokens_map.json",
    "tokenizer.json", "tokenizer_config.json", "vocab.txt",
}  # fmt: skip


def _fetched(files: list[str]) -> set[str]:
    """What snapshot_download would fetch of `files`: huggingface_hub's own filter on our patterns."""
    return set(filter_repo_objects(files, allow_patterns=hub_patterns(files), ignore_patterns=OTHER_FORMATS))


def test_only_the_files_that_load_are_fetched_from_a_repository() -> None:
    # the safetensors weights, configs and tokenizer; not ONNX, OpenVINO, TF, Rust or the pickled copy
    assert _fetched(MINILM_FILES) == LOADED


def test_pickled_weights_are_fetched_only_where_a_repository_has_no_safetensors() -> None:
    older = [f for f in MINILM_FILES if not f.endswith(".safetensors")]
    assert _fetched(older) == (LOADED - {"model.safetensors"}) | {"pytorch_model.bin"}


def _tiny_bert(directory: Path, seed: int) -> None:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)  # fmt: skip
    BertModel(config).save_pretrained(directory)


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A Hugging Face cache holding two commits of `t2igan-tests/tiny-bert`; main points at the second."""
    commits = {"first": "a" * 40, "second": "b" * 40}
    repository = tmp_path / "hub" / "models--t2igan-tests--tiny-bert"
    for seed, commit in enumerate(commits.values()):
        _tiny_bert(repository / "snapshots" / commit, seed)
    (repository / "refs").mkdir()
    (repository / "refs" / "main").write_text(commits["second"])
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return commits


def test_a_revision_picks_its_commit_and_the_spec_records_the_commit(
    hub_cache: dict[str, str], tmp_path: Path
) -> None:
    name = "t2igan-tests/tiny-bert"
    default, _ = spec_from_params(EmbedParams(encoder=name), tmp_path / "cache")
    pinned, path = spec_from_params(EmbedParams(encoder=name, revision=hub_cache["first"]), tmp_path / "cache")
    assert default.revision == hub_cache["second"] and hub_commit(path) == pinned.revision == hub_cache["first"]
    # other weights, another revision: another fingerprint (the embedding cache's key)
    assert pinned.weights_sha256 != default.weights_sha256 and pinned.fingerprint != default.fingerprint
    assert pinned.record()["revision"] == hub_cache["first"]
    main, _ = spec_from_params(EmbedParams(encoder=name, revision="main"), tmp_path / "cache")
    assert main == default


def test_a_local_encoder_has_no_revision_and_keeps_its_fingerprint(tmp_path: Path) -> None:
    _tiny_bert(tmp_path / "local", 0)
    spec, _ = spec_from_params(EmbedParams(encoder=str(tmp_path / "local")), tmp_path / "cache")
    assert spec.revision is None and "revision" not in spec.record()
    with pytest.raises(ConfigError, match=r"embed\.revision: .* is not a Hugging Face repository"):
        resolve_encoder_path(str(tmp_path / "local"), "main")
