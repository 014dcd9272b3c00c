"""The LoRA adaptation through peft's own API: wrapped by `get_peft_model`, saved by `save_pretrained`, loaded
by `PeftModel.from_pretrained`, merged for serving; across the model families people bring (BERT, GPT-2's
transposed Conv1D, T5's encoder, the CLIP and SigLIP text towers peft has no default targets for).

The reference vectors come from the path the adapter took before peft's wrapper did it (adapters injected in
place, weights set from the file by `set_peft_model_state_dict`), so what was served then is served now."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from t2igan.config import EmbedParams, TextTuningParams
from t2igan.errors import ConfigError
from t2igan.text.encoder import TextEncoder, encoder_from_params
from t2igan.text.locate import weights_hash
from t2igan.text.tuning import LORA_WEIGHTS_FILE, TUNING_FILE, Tuning, read_saved_weights, read_tuning
from t2igan.training.text_model import TrainableText
from tests.support.tiny_lms import build

CAPTIONS = [
    "a small red circle on the left",
    "a large blue square in the center on a black background",
    "purple star",
]
FAMILIES = ("bert", "gpt2", "t5", "clip", "siglip")
SAVED_PREFIX = "base_model.model."  # how peft names an adapter's weights in its file


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lms")
    return {kind: build(kind, root / kind) for kind in FAMILIES}


def _adapted(base: Path, rank: int = 8, seed: int = 0, dtype: str = "float32") -> TrainableText:
    """The LM adapted with LoRA as training adapts it, its adapters then set to weights that change the
    vectors (LoRA's B starts at zero: an untrained adapter is the identity)."""
    # named as a project names its LM, not by where it was loaded from here
    encoder = encoder_from_params(EmbedParams(encoder=f"tiny-{base.name}", dtype=dtype), base)  # type: ignore[arg-type]
    tuning = Tuning.from_params(TextTuningParams(finetune="lora", lora_rank=rank), encoder.model)
    text = TrainableText(encoder, tuning, encoder.token_ids(CAPTIONS))
    draw = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in text.parameters():
            p.copy_(torch.randn(p.shape, generator=draw) * 0.1)
    return text


def _vectors(text: TrainableText) -> np.ndarray:
    with torch.no_grad():
        return text.vectors(text.tokens(np.arange(len(CAPTIONS)))).numpy()


def _with_model(base: Path, text: TrainableText, model: torch.nn.Module) -> np.ndarray:
    """Sentence vectors of the captions with the family's tokenizer and pooling, through `model`."""
    encoder = TextEncoder(base, text.encoder.spec)
    encoder.model = model
    return encoder.encode(CAPTIONS)


def _fresh(base: Path, text: TrainableText) -> torch.nn.Module:
    model: torch.nn.Module = TextEncoder(base, text.encoder.spec).model
    return model


def _as_before(base: Path, text: TrainableText, directory: Path) -> np.ndarray:
    """The vectors as the served model computed them before: LoRA injected into a fresh base in place, the
    saved weights put in by name (peft's prefix dropped), nothing merged."""
    from peft import LoraConfig, inject_adapter_in_model, set_peft_model_state_dict

    tuning = text.tuning
    config = LoraConfig(
        r=tuning.lora_rank,
        lora_alpha=tuning.lora_alpha,
        lora_dropout=0.0,
        fan_in_fan_out=tuning.fan_in_fan_out,
        target_modules=list(tuning.targets),
        bias="none",
    )
    model = inject_adapter_in_model(config, _fresh(base, text))
    saved = read_saved_weights(directory, tuning)
    result = set_peft_model_state_dict(model, {k.removeprefix(SAVED_PREFIX): v for k, v in saved.items()})
    assert not result.unexpected_keys
    return _with_model(base, text, model.eval())


@pytest.mark.parametrize("kind", FAMILIES)
def test_the_served_lm_is_merged_and_embeds_as_the_adapted_one_did(
    kind: str, bases: dict[str, Path], tmp_path: Path
) -> None:
    from peft.tuners.tuners_utils import BaseTunerLayer

    base = bases[kind]
    base_hash = weights_hash(base)
    text = _adapted(base)
    in_training = _vectors(text)
    text.export(tmp_path / "tuning")

    served = TextEncoder(base, text.encoder.spec, tuning_dir=tmp_path / "tuning")
    # merged: a plain transformers model with the base's parameters, no adapter layer or peft state left
    assert not any(isinstance(m, BaseTunerLayer) for m in served.model.modules())
    assert set(served.model.state_dict()) == set(_fresh(base, text).state_dict())
    assert not hasattr(served.model, "peft_config")
    assert not any(p.requires_grad for p in served.model.parameters())
    vectors = served.encode(CAPTIONS)
    np.testing.assert_allclose(vectors, in_training, rtol=0, atol=1e-5)
    np.testing.assert_allclose(vectors, _as_before(base, text, tmp_path / "tuning"), rtol=0, atol=1e-5)
    # the adaptation is what the served vectors carry, and the base LM's own files are untouched
    assert not np.allclose(vectors, TextEncoder(base, text.encoder.spec).encode(CAPTIONS), atol=1e-3)
    assert weights_hash(base) == base_hash


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_a_half_precision_lm_keeps_its_adapter_unmerged_and_serves_training_s_vectors(
    kind: str, bases: dict[str, Path], tmp_path: Path
) -> None:
    """Merged into bfloat16 weights, the update would be rounded (vectors off by about 1e-3 here)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    text = _adapted(bases[kind], dtype="bfloat16")
    in_training = _vectors(text)
    text.export(tmp_path / "tuning")

    served = TextEncoder(bases[kind], text.encoder.spec, tuning_dir=tmp_path / "tuning")
    assert any(isinstance(m, BaseTunerLayer) for m in served.model.modules())
    assert not any(p.requires_grad for p in served.model.parameters())
    np.testing.assert_allclose(served.encode(CAPTIONS), in_training, rtol=0, atol=1e-6)


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")  # peft asks transformers
@pytest.mark.parametrize("kind", ["bert", "gpt2", "clip"])
def test_peft_s_from_pretrained_on_a_fresh_base_gives_training_s_vectors_and_merges_to_them(
    kind: str, bases: dict[str, Path], tmp_path: Path
) -> None:
    from peft import PeftModel

    base = bases[kind]
    text = _adapted(base)
    in_training = _vectors(text)
    text.export(tmp_path / "tuning")

    unmerged = PeftModel.from_pretrained(_fresh(base, text), str(tmp_path / "tuning")).eval()
    unmerged_vectors = _with_model(base, text, unmerged)
    np.testing.assert_allclose(unmerged_vectors, in_training, rtol=0, atol=1e-6)
    np.testing.assert_allclose(unmerged_vectors, _as_before(base, text, tmp_path / "tuning"), rtol=0, atol=1e-6)
    merged = _with_model(base, text, unmerged.merge_and_unload())
    np.testing.assert_allclose(merged, unmerged_vectors, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", ["bert", "gpt2", "clip"])
def test_the_saved_adapter_is_peft_s_directory_named_after_the_project_s_base_lm(
    kind: str, bases: dict[str, Path], tmp_path: Path
) -> None:
    text = _adapted(bases[kind])
    record = text.export(tmp_path / "tuning")

    directory = tmp_path / "tuning"
    assert {p.name for p in directory.iterdir()} == {"adapter_config.json", LORA_WEIGHTS_FILE, TUNING_FILE}
    config = json.loads((directory / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 8 and config["lora_alpha"] == 16
    assert sorted(config["target_modules"]) == sorted(text.tuning.targets)
    assert config["fan_in_fan_out"] == (kind == "gpt2")
    # not the path the base was loaded from on this machine: the same adapter exports the same bytes anywhere
    assert config["base_model_name_or_path"] == text.encoder.spec.name == f"tiny-{kind}"
    assert read_tuning(directory) == record and record["method"] == "lora"
    assert record["weights_sha256"] == hashlib.sha256((directory / LORA_WEIGHTS_FILE).read_bytes()).hexdigest()
    saved = read_saved_weights(directory, text.tuning)
    assert saved and all(k.startswith(SAVED_PREFIX) and ".default." not in k for k in saved)


def test_an_adapter_exported_the_old_way_still_serves(bases: dict[str, Path], tmp_path: Path) -> None:
    """Models registered before: LoraConfig's own save_pretrained and the weights written by name."""
    from peft import LoraConfig, get_peft_model_state_dict
    from safetensors.torch import save_file

    base = bases["gpt2"]
    text = _adapted(base)
    new = text.export(tmp_path / "new")
    old = tmp_path / "old"
    tuning = text.tuning
    LoraConfig(
        r=tuning.lora_rank,
        lora_alpha=tuning.lora_alpha,
        lora_dropout=0.0,
        fan_in_fan_out=tuning.fan_in_fan_out,
        target_modules=list(tuning.targets),
        bias="none",
    ).save_pretrained(str(old))
    adapters = get_peft_model_state_dict(text.model, save_embedding_layers=False)
    save_file({SAVED_PREFIX + k: v.contiguous() for k, v in adapters.items()}, str(old / LORA_WEIGHTS_FILE))
    (old / TUNING_FILE).write_text(json.dumps(new))

    served = TextEncoder(base, text.encoder.spec, tuning_dir=old).encode(CAPTIONS)
    np.testing.assert_allclose(served, _vectors(text), rtol=0, atol=1e-5)


def test_checkpoints_name_the_adapters_as_before_peft_s_wrapper(bases: dict[str, Path]) -> None:
    """A checkpoint written before resumes now: the trainable state is named in the LM, not in the wrapper."""
    from peft import LoraConfig, inject_adapter_in_model

    text = _adapted(bases["bert"])
    fresh = _fresh(bases["bert"], text)
    inject_adapter_in_model(LoraConfig(r=8, target_modules=["query", "value"]), fresh)
    before = {name for name, p in fresh.named_parameters() if p.requires_grad}
    assert set(text.state_dict()) == before
    assert text.why_unfit({name: p.detach() for name, p in fresh.named_parameters() if name in before}) is None


def test_a_run_starts_from_an_exported_adapter_and_refuses_another(
    bases: dict[str, Path], tmp_path: Path
) -> None:
    """train.init_from an exported model: its adapter file, into a run adapted the same way."""
    source = _adapted(bases["bert"], seed=1)
    record = source.export(tmp_path / "tuning")
    weights = read_saved_weights(tmp_path / "tuning", Tuning.from_record(record))

    run = _adapted(bases["bert"], seed=2)
    run.start_from(weights, record)
    assert all(torch.equal(run.state_dict()[k], v) for k, v in source.state_dict().items())
    assert np.array_equal(_vectors(run), _vectors(source))

    other = _adapted(bases["bert"], rank=4)
    with pytest.raises(ConfigError, match="adapted otherwise"):
        other.start_from(weights, record)
    stray = {**weights, f"{SAVED_PREFIX}pooler.dense.lora_A.weight": torch.zeros(8, 32)}
    with pytest.raises(ConfigError, match="another adaptation"):
        run.start_from(stray, record)
