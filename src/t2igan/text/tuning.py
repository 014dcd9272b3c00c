"""The language model adapted while the GAN trains: LoRA adapters (peft) or its top layers unfrozen.

The frozen recipe embeds every caption once; adapting the LM means the captions go through it every step,
from token ids tokenised once per run. Only the adapted part trains and is saved: the base weights stay
bit-identical, so the base LM's weights hash still names what the model was built on, and the adaptation
is a small directory beside the generator:

- `lora`: peft's own adapter format (`adapter_config.json`, `adapter_model.safetensors`), so
  `peft.PeftModel.from_pretrained(base, dir)` loads it too. LoRA goes on the query and value projections
  (the LoRA paper's choice and peft's default per model type), found by name for types peft does not map.
- `top_layers`: the last k transformer layers' weights (`top_layers.safetensors`).

`tuning.json` says which, with the settings needed to rebuild it and the sha256 of its weights.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from t2igan.config import TextTuningParams
from t2igan.errors import ConfigError
from t2igan.io import read_json, write_json

TUNING_DIR = "text_tuning"  # inside an exported model directory
TUNING_FILE = "tuning.json"
TOP_LAYERS_FILE = "top_layers.safetensors"
LORA_WEIGHTS_FILE = "adapter_model.safetensors"
PEFT_PREFIX = "base_model.model."  # how PeftModel names the weights it saves and loads

# Attention projections by name, for model types peft has no default for (CLIP, SigLIP): query and value.
_QUERY_VALUE_NAMES = ("q_proj", "v_proj", "query", "value", "q", "v")


@dataclass(frozen=True)
class Tuning:
    """How the LM was adapted: enough to rebuild the trainable part on the base model."""

    method: str  # lora | top_layers
    lora_rank: int
    lora_alpha: int
    targets: tuple[str, ...]  # LoRA's target module names
    top_layers: int
    fan_in_fan_out: bool = False  # GPT-2's Conv1D projections store their weights transposed

    @classmethod
    def from_params(cls, cfg: TextTuningParams, model: nn.Module) -> Tuning:
        """Only the method's own settings (the others zero), so that two runs adapted alike compare equal."""
        if cfg.finetune != "lora":
            return cls(cfg.finetune, 0, 0, (), cfg.top_layers)
        targets = lora_targets(model)
        transposed = any(
            type(module).__name__ == "Conv1D" and name.rsplit(".", 1)[-1] in targets
            for name, module in model.named_modules()
        )
        return cls(cfg.finetune, cfg.lora_rank, cfg.lora_alpha, targets, 0, transposed)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Tuning:
        values = {name: record[name] for name in cls.__dataclass_fields__}
        values["targets"] = tuple(values["targets"])
        return cls(**values)

    def record(self, weights_sha256: str) -> dict[str, Any]:
        return {**asdict(self), "targets": list(self.targets), "weights_sha256": weights_sha256}


class TokenBatch(NamedTuple):
    """One step's captions as the LM reads them."""

    input_ids: torch.Tensor  # [B, T]
    attention_mask: torch.Tensor  # [B, T]


def lora_targets(model: nn.Module) -> tuple[str, ...]:
    """The query and value projections' module names: peft's default for the model type, else by name."""
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    model_type = str(getattr(getattr(model, "config", None), "model_type", ""))
    if model_type in DEFAULTS:
        return tuple(DEFAULTS[model_type])
    linear = (name for name, module in model.named_modules() if isinstance(module, nn.Linear))
    leaves = {name.rsplit(".", 1)[-1] for name in linear}
    found = tuple(name for name in _QUERY_VALUE_NAMES if name in leaves)
    if not found:
        raise ConfigError(
            f"train.text.finetune: lora finds no query/value projections in a {model_type!r} model "
            f"(looked for {', '.join(_QUERY_VALUE_NAMES)}); use top_layers"
        )
    return found[:2]


def transformer_layers(model: nn.Module) -> nn.ModuleList:
    """The stack of transformer layers: the longest ModuleList of identical blocks (BERT's encoder.layer,
    GPT-2's h, Llama's layers, T5's encoder.block, CLIP's encoder.layers)."""
    stacks = [
        module
        for module in model.modules()
        if isinstance(module, nn.ModuleList) and len(module) and len({type(m) for m in module}) == 1
    ]
    if not stacks:
        raise ConfigError("train.text.finetune: top_layers finds no stack of transformer layers in the model")
    return max(stacks, key=len)


def adapt(model: nn.Module, tuning: Tuning) -> None:
    """Make the tuned part of `model` trainable, in place; everything else stays frozen."""
    model.requires_grad_(False)
    if tuning.method == "lora":
        from peft import inject_adapter_in_model

        inject_adapter_in_model(_lora_config(tuning), model)  # leaves only the adapters trainable
        return
    layers = transformer_layers(model)
    if tuning.top_layers > len(layers):
        raise ConfigError(
            f"train.text.top_layers: {tuning.top_layers} is more than the model's {len(layers)} layers"
        )
    for layer in layers[len(layers) - tuning.top_layers :]:
        layer.requires_grad_(True)


def _lora_config(tuning: Tuning) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=tuning.lora_rank,
        lora_alpha=tuning.lora_alpha,
        lora_dropout=0.0,  # the LM runs in eval mode: no dropout
        fan_in_fan_out=tuning.fan_in_fan_out,
        target_modules=list(tuning.targets),
        bias="none",
    )


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapted weights only, by parameter name (what a checkpoint and an export hold)."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Put saved adapted weights back; refused unless they are exactly the trainable set."""
    names = {name for name, p in model.named_parameters() if p.requires_grad}
    if set(state) != names:
        raise ValueError(f"saved LM weights of another adaptation ({len(state)}, not {len(names)} tensors)")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def why_state_unfit(model: nn.Module, state: object) -> str | None:
    """Why `state` cannot be loaded as this model's adapted weights, or None."""
    if not isinstance(state, dict):
        return "no language-model weights"
    ours = {name: p.shape for name, p in model.named_parameters() if p.requires_grad}
    if set(state) != set(ours):
        return "language model: another adaptation"
    wrong = next((k for k in ours if getattr(state[k], "shape", None) != ours[k]), None)
    return f"language model {wrong}: another shape" if wrong else None


def save_tuning(model: nn.Module, tuning: Tuning, directory: Path) -> dict[str, Any]:
    """Write the adaptation into `directory` (made here); returns its record (also in tuning.json)."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    if tuning.method == "lora":
        from peft import get_peft_model_state_dict

        _lora_config(tuning).save_pretrained(str(directory))
        target = directory / LORA_WEIGHTS_FILE
        adapters = get_peft_model_state_dict(model)  # injected in place: named without peft's wrapper
        save_file({PEFT_PREFIX + k: v.contiguous() for k, v in adapters.items()}, str(target))
    else:
        target = directory / TOP_LAYERS_FILE
        save_file({name: t.contiguous() for name, t in trainable_state(model).items()}, str(target))
    record = tuning.record(hashlib.sha256(target.read_bytes()).hexdigest())
    write_json(directory / TUNING_FILE, record)
    return record


def read_tuning(directory: Path) -> dict[str, Any] | None:
    """tuning.json of an adaptation directory, or None when the model's LM was frozen."""
    path = directory / TUNING_FILE
    return read_json(path) if path.is_file() else None


def apply_tuning(model: nn.Module, directory: Path) -> dict[str, Any]:
    """Adapt a freshly loaded base model as saved in `directory`, frozen again (for inference)."""
    record = read_tuning(directory)
    if record is None:
        raise ConfigError(f"{directory}: no {TUNING_FILE}")
    tuning = Tuning.from_record(record)
    adapt(model, tuning)
    load_saved_weights(model, tuning, read_saved_weights(directory, tuning))
    model.requires_grad_(False)
    return record


def read_saved_weights(directory: Path, tuning: Tuning) -> dict[str, torch.Tensor]:
    """The adaptation's tensors as saved (peft's names for LoRA)."""
    from safetensors.torch import load_file

    name = LORA_WEIGHTS_FILE if tuning.method == "lora" else TOP_LAYERS_FILE
    return load_file(str(directory / name), device="cpu")


def load_saved_weights(model: nn.Module, tuning: Tuning, weights: dict[str, torch.Tensor]) -> None:
    """Put saved adaptation tensors into a model adapted the same way."""
    if tuning.method != "lora":
        load_trainable_state(model, weights)
        return
    from peft import set_peft_model_state_dict

    result = set_peft_model_state_dict(model, {k.removeprefix(PEFT_PREFIX): v for k, v in weights.items()})
    if getattr(result, "unexpected_keys", None):
        raise ConfigError("adapter weights for modules this model lacks")
