"""Adapting the language model with the GAN: what a step changes, what it must not, and what travels on."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from t2igan.config import EmbedParams, TextTuningParams, TrainParams
from t2igan.errors import ConfigError
from t2igan.text.encoder import TextEncoder, encoder_from_params
from t2igan.text.tuning import TUNING_FILE, Tuning, read_tuning
from t2igan.training.text_model import TrainableText
from t2igan.training.trainer import Trainer
from tests.support.project import tiny_gan
from tests.support.tiny_lms import build

CAPTIONS = [
    "a small red circle on the left",
    "a large blue square in the center on a black background",
    "a green triangle at the top right",
    "purple star",
]


def _text(kind: str, method: str, tmp_path: Path, **tuning: object) -> tuple[TrainableText, Path]:
    directory = build(kind, tmp_path / kind)
    encoder = encoder_from_params(EmbedParams(encoder=str(directory)), directory)
    cfg = TextTuningParams(finetune=method, **tuning)  # type: ignore[arg-type]
    tuning_ = Tuning.from_params(cfg, encoder.model)
    return TrainableText(encoder, tuning_, encoder.token_ids(CAPTIONS)), directory


def _trainer(text: TrainableText, method: str, updates: str = "alternating") -> Trainer:
    tuning = TextTuningParams(finetune=method, lr=1e-2)  # type: ignore[arg-type]
    params = TrainParams(gp_every=2, updates=updates, text=tuning)  # type: ignore[arg-type]
    return Trainer(tiny_gan(text_dim=text.encoder.dim), params, torch.device("cpu"), text=text)


def _images() -> torch.Tensor:
    return torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1


ROWS = np.arange(len(CAPTIONS))


@pytest.mark.parametrize(
    ("kind", "method", "updates"),
    [
        ("bert", "lora", "alternating"),
        ("gpt2", "lora", "alternating"),
        ("bert", "top_layers", "alternating"),
        ("bert", "lora", "simultaneous"),
    ],
)
def test_a_step_moves_the_adaptation_and_the_gan_and_leaves_the_base_lm_bit_identical(
    kind: str, method: str, updates: str, tmp_path: Path
) -> None:
    text, _ = _text(kind, method, tmp_path)
    trainer = _trainer(text, method, updates)
    adapted = {name for name, p in text.model.named_parameters() if p.requires_grad}
    base = {k: v.clone() for k, v in text.model.state_dict().items() if k not in adapted}
    before = text.state_dict()
    d_before = [p.clone() for p in trainer.discriminator.parameters()]

    for step in range(2):
        trainer.step(step, _images(), text.tokens(ROWS))

    after = text.state_dict()
    assert set(after) == adapted and adapted
    assert all(not torch.equal(before[name], after[name]) for name in adapted)
    assert all(torch.equal(base[k], v) for k, v in text.model.state_dict().items() if k in base)
    assert any(not torch.equal(a, b) for a, b in zip(d_before, trainer.discriminator.parameters(), strict=True))
    assert "lr_text" in trainer.learning_rates()


def test_lora_sits_on_the_query_and_value_projections(tmp_path: Path) -> None:
    bert, _ = _text("bert", "lora", tmp_path)
    clip, _ = _text("clip", "lora", tmp_path)  # a type peft has no default for: found by name
    gpt2, _ = _text("gpt2", "lora", tmp_path)
    assert bert.tuning.targets == ("query", "value")
    assert clip.tuning.targets == ("q_proj", "v_proj")
    assert gpt2.tuning.targets == ("c_attn",) and gpt2.tuning.fan_in_fan_out
    names = {name for name, p in bert.model.named_parameters() if p.requires_grad}
    assert names and all(".lora_A." in n or ".lora_B." in n for n in names)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in names} == {"query", "value"}


def test_a_state_saved_mid_run_continues_bit_identically(tmp_path: Path) -> None:
    straight_text, _ = _text("bert", "lora", tmp_path / "a")
    straight = _trainer(straight_text, "lora")
    resumed_text, _ = _text("bert", "lora", tmp_path / "b")
    resumed = _trainer(resumed_text, "lora")
    for step in range(2):
        straight.step(step, _images(), straight_text.tokens(ROWS))
    saved = copy.deepcopy(straight.state_dict())  # as a checkpoint holds it: not the live tensors
    straight.step(2, _images(), straight_text.tokens(ROWS))

    assert resumed.why_unfit(saved) is None
    resumed.load_state_dict(saved)
    resumed.step(2, _images(), resumed_text.tokens(ROWS))
    a, b = straight_text.state_dict(), resumed_text.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    for pa, pb in zip(straight.generator.parameters(), resumed.generator.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_a_frozen_trainer_refuses_an_adapted_run_s_state(tmp_path: Path) -> None:
    text, _ = _text("bert", "lora", tmp_path)
    adapted = _trainer(text, "lora")
    frozen = Trainer(tiny_gan(text_dim=text.encoder.dim), TrainParams(gp_every=2), torch.device("cpu"))
    assert (
        frozen.why_unfit(adapted.state_dict())
        == "the language model was adapted in one and frozen in the other"
    )
    other, _ = _text("bert", "lora", tmp_path / "rank4", lora_rank=4)
    assert "another shape" in str(_trainer(other, "lora").why_unfit(adapted.state_dict()))


@pytest.mark.parametrize(("kind", "method"), [("bert", "lora"), ("t5", "top_layers"), ("siglip", "lora")])
def test_the_exported_adaptation_embeds_captions_as_training_did(
    kind: str, method: str, tmp_path: Path
) -> None:
    """Top layers: exactly. LoRA: merged into the base weights for serving, so to float rounding."""
    text, base = _text(kind, method, tmp_path)
    trainer = _trainer(text, method)
    for step in range(2):
        trainer.step(step, _images(), text.tokens(ROWS))
    with torch.no_grad():
        in_training = text.vectors(text.tokens(ROWS)).numpy()

    record = text.export(tmp_path / "tuning")
    assert read_tuning(tmp_path / "tuning") == record and (tmp_path / "tuning" / TUNING_FILE).is_file()
    loaded = TextEncoder(base, text.encoder.spec, tuning_dir=tmp_path / "tuning").encode(CAPTIONS)
    if method == "lora":
        np.testing.assert_allclose(loaded, in_training, rtol=0, atol=1e-5)
    else:
        assert np.array_equal(loaded, in_training)
    assert not np.allclose(TextEncoder(base, text.encoder.spec).encode(CAPTIONS), in_training, atol=1e-5)


def test_peft_itself_loads_an_exported_lora_adapter(tmp_path: Path) -> None:
    from peft import PeftModel

    text, base = _text("bert", "lora", tmp_path)
    _trainer(text, "lora").step(0, _images(), text.tokens(ROWS))
    text.export(tmp_path / "tuning")
    with torch.no_grad():
        ours = text.model(**dict(zip(("input_ids", "attention_mask"), text.tokens(ROWS), strict=True)))
    fresh = TextEncoder(base, text.encoder.spec).model
    theirs = PeftModel.from_pretrained(fresh, str(tmp_path / "tuning")).eval()
    with torch.no_grad():
        out = theirs(**dict(zip(("input_ids", "attention_mask"), text.tokens(ROWS), strict=True)))
    assert torch.allclose(out.last_hidden_state, ours.last_hidden_state, atol=1e-6)


def test_settings_of_the_other_method_do_not_make_two_adaptations_differ(tmp_path: Path) -> None:
    a, _ = _text("bert", "lora", tmp_path / "a", top_layers=1)
    b, _ = _text("bert", "lora", tmp_path / "b", top_layers=2)
    c, _ = _text("bert", "top_layers", tmp_path / "c", lora_rank=4)
    assert a.tuning == b.tuning
    assert (c.tuning.lora_rank, c.tuning.targets, c.tuning.top_layers) == (0, (), 2)


def test_more_top_layers_than_the_model_has_fail_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"train\.text\.top_layers: 5 is more than the model's 2 layers"):
        _text("bert", "top_layers", tmp_path, top_layers=5)
