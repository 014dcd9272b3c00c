"""The language model adapted while the GAN trains: LoRA adapters (peft) or its top layers unfrozen.

The frozen recipe embeds every caption once; adapting the LM means the captions go through it every step,
from token ids tokenised once per run. Only the adapted part trains and is saved: the base weights stay
bit-identical, so the base LM's weights hash still names what the model was built on, and the adaptation
is a small directory beside the generator:

- `lora`: peft's own way end to end. `get_peft_model` wraps the LM (its layers adapted in place, so the
  model the encoder runs and the checkpoint's parameter names are the base model's), `save_pretrained`
  writes the adapter directory (`adapter_config.json`, `adapter_model.safetensors`), and
  `PeftModel.from_pretrained` loads it on a fresh base. LoRA goes on the query and value projections: peft's
  default for the model type (the LoRA paper's choice), found by name for types peft does not map (CLIP's and
  SigLIP's text towers). For inference the adapter is merged into the base weights (`merge_and_unload`):
  the served LM is a plain transformers model again, as fast as the frozen one, and embeds as the adapted
  one did to float rounding (1e-5). Not a half-precision LM's: merging would round the update to bfloat16
  (see `_load_lora`), so its adapters stay unmerged and compute what training computed.
- `top_layers`: the last k transformer layers' weights (`top_layers.safetensors`).

`tuning.json` says which, with the settings needed to rebuild it and the sha256 of its weights.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import nn

from t2igan.config import TextTuningParams
from t2igan.errors import ConfigError
from t2igan.io import read_json, write_json

if TYPE_CHECKING:
    from peft import PeftModel

TUNING_DIR = "text_tuning"  # inside an exported model directory
TUNING_FILE = "tuning.json"
TOP_LAYERS_FILE = "top_layers.safetensors"
LORA_WEIGHTS_FILE = "adapter_model.safetensors"  # peft's name for an adapter's weights (save_pretrained's)
MODEL_CARD = "README.md"  # what save_pretrained writes beside the adapter; not kept (see save_tuning)

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
    """The query and value projections' module names: peft's default for the model type (the table
    `get_peft_model` itself reads when a config names none), else by name."""
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


def adapt(model: nn.Module, tuning: Tuning) -> nn.Module:
    """Make the tuned part of `model` trainable, everything else frozen; returns what saves and loads the
    adaptation: peft's wrapper for LoRA (`model` itself adapted in place inside it, so running `model` runs
    the adapters), `model` for top layers."""
    model.requires_grad_(False)
    if tuning.method == "lora":
        from peft import get_peft_model

        with _quiet_peft():
            return get_peft_model(model, _lora_config(tuning))  # leaves only the adapters trainable
    layers = transformer_layers(model)
    if tuning.top_layers > len(layers):
        raise ConfigError(
            f"train.text.top_layers: {tuning.top_layers} is more than the model's {len(layers)} layers"
        )
    for layer in layers[len(layers) - tuning.top_layers :]:
        layer.requires_grad_(True)
    return model


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


@contextmanager
def _quiet_peft() -> Iterator[None]:
    """peft reads transformers' `is_gradient_checkpointing`, an alias transformers deprecates: a warning for
    peft's maintainers, not for whoever trains or serves a model."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def _peft(model: nn.Module, needed_by: str) -> PeftModel:
    """peft's wrapper, which a LoRA adaptation is saved from and loaded into."""
    from peft import PeftModel

    if not isinstance(model, PeftModel):
        raise TypeError(f"{needed_by}: a LoRA adapter needs the model `adapt` returned (peft's wrapper)")
    return model


def _base(model: nn.Module) -> nn.Module:
    """The adapted LM itself, whether given it or peft's wrapper around it: its parameter names are what a
    checkpoint holds (the same before and after peft wrapped the model)."""
    from peft import PeftModel

    return model.get_base_model() if isinstance(model, PeftModel) else model


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapted weights only, by parameter name in the base model (what a checkpoint holds)."""
    return {name: p.detach().clone() for name, p in _base(model).named_parameters() if p.requires_grad}


def load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Put saved adapted weights back; refused unless they are exactly the trainable set."""
    params = dict(_base(model).named_parameters())
    names = {name for name, p in params.items() if p.requires_grad}
    if set(state) != names:
        raise ValueError(f"saved LM weights of another adaptation ({len(state)}, not {len(names)} tensors)")
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def why_state_unfit(model: nn.Module, state: object) -> str | None:
    """Why `state` cannot be loaded as this model's adapted weights, or None."""
    if not isinstance(state, dict):
        return "no language-model weights"
    ours = {name: p.shape for name, p in _base(model).named_parameters() if p.requires_grad}
    if set(state) != set(ours):
        return "language model: another adaptation"
    wrong = next((k for k in ours if getattr(state[k], "shape", None) != ours[k]), None)
    return f"language model {wrong}: another shape" if wrong else None


def save_tuning(model: nn.Module, tuning: Tuning, directory: Path, base_model: str) -> dict[str, Any]:
    """Write the adaptation into `directory` (made here); returns its record (also in tuning.json).

    `model`: what `adapt` returned. `base_model`: the base LM's name as the project knows it (its encoder
    spec's), recorded in adapter_config.json instead of the local path peft would record, which would make
    the same adapter exported on two machines two different directories."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    if tuning.method == "lora":
        wrapper = _peft(model, "save_tuning")
        wrapper.peft_config[wrapper.active_adapter].base_model_name_or_path = base_model
        # No embedding layers: t2igan neither targets nor resizes them (and "auto" would look the base's name
        # up on the Hub to compare vocabularies)
        wrapper.save_pretrained(str(directory), save_embedding_layers=False)
        # peft's model card names the base model by the path it was loaded from: nothing a loader reads
        (directory / MODEL_CARD).unlink(missing_ok=True)
        target = directory / LORA_WEIGHTS_FILE
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
    """Adapt a freshly loaded base model as saved in `directory`, in place and frozen (for inference).

    LoRA: peft loads the adapter (`PeftModel.from_pretrained`) and merges it into float32 base weights
    (`merge_and_unload`): `model` comes out a plain transformers model again, without adapter layers."""
    record = read_tuning(directory)
    if record is None:
        raise ConfigError(f"{directory}: no {TUNING_FILE}")
    tuning = Tuning.from_record(record)
    if tuning.method == "lora":
        _load_lora(model, directory)
    else:
        adapt(model, tuning)
        load_saved_weights(model, tuning, read_saved_weights(directory, tuning))
    model.requires_grad_(False)
    return record


def _load_lora(model: nn.Module, directory: Path) -> None:
    """The adapter into `model`, merged when its weights are float32: the merged LM embeds as the adapted one
    to float rounding (1e-5). Half-precision weights would round the merged update to their precision (about
    1e-3 on a normalised vector, for a bfloat16 LM) where training computed the adapters in float32: there
    they stay beside the weights they adapt, computed as training computed them."""
    from peft import PeftModel
    from safetensors import safe_open

    mergeable = all(p.dtype == torch.float32 for p in model.parameters())
    with _quiet_peft():
        adapted = PeftModel.from_pretrained(model, str(directory))
    with safe_open(str(directory / LORA_WEIGHTS_FILE), framework="pt") as saved:
        _check_adapter_keys(adapted, set(saved.keys()), str(directory))
    if not mergeable:
        return  # adapted in place: `model` runs the adapters
    merged = adapted.merge_and_unload(safe_merge=True)  # safe: refuses weights that merge to NaN
    if merged is not model:  # peft adapts in place; the caller keeps `model`
        raise RuntimeError("peft's merge_and_unload returned another model than the one it was given")


def _check_adapter_keys(model: nn.Module, saved: set[str], source: str) -> None:
    """Refuse adapter weights that do not fit the adapted model exactly (peft loads what fits, warns of
    what is missing, and ignores the rest)."""
    from peft import get_peft_model_state_dict

    ours = set(get_peft_model_state_dict(model, save_embedding_layers=False))  # as save_tuning saves
    if saved != ours:
        strays = sorted(saved - ours) or sorted(ours - saved)
        raise ConfigError(f"{source}: adapter weights of another adaptation ({strays[0]} among others)")


def read_saved_weights(directory: Path, tuning: Tuning) -> dict[str, torch.Tensor]:
    """The adaptation's tensors as saved (peft's names for LoRA)."""
    from safetensors.torch import load_file

    name = LORA_WEIGHTS_FILE if tuning.method == "lora" else TOP_LAYERS_FILE
    return load_file(str(directory / name), device="cpu")


def load_saved_weights(model: nn.Module, tuning: Tuning, weights: dict[str, torch.Tensor]) -> None:
    """Put saved adaptation tensors into a model adapted the same way (`model`: what `adapt` returned)."""
    if tuning.method != "lora":
        load_trainable_state(model, weights)
        return
    from peft import set_peft_model_state_dict

    wrapper = _peft(model, "load_saved_weights")
    _check_adapter_keys(wrapper, set(weights), "the saved adapter")
    set_peft_model_state_dict(wrapper, weights)
