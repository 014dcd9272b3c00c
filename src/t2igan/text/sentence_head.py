"""What a sentence-transformers model applies after its pooling (t2igan.text.sentence_dirs reads which):
Dense layers with their activation, and L2 normalisation, loaded from the directory's own files."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from t2igan.errors import ConfigError
from t2igan.io import read_json

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "identity": nn.Identity,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
}


class Normalize(nn.Module):
    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(vectors, dim=-1)


def _dense(directory: Path, path: str, activation: str) -> nn.Module:
    config = read_json(directory / path / "config.json")
    linear = nn.Linear(
        int(config["in_features"]), int(config["out_features"]), bias=bool(config.get("bias", True))
    )
    weights = directory / path / "model.safetensors"
    if weights.is_file():
        from safetensors.torch import load_file

        state = load_file(str(weights), device="cpu")
    else:  # saved by sentence-transformers before safetensors
        state = torch.load(directory / path / "pytorch_model.bin", map_location="cpu", weights_only=True)
    found = {key.removeprefix("linear."): value for key, value in state.items()}
    try:
        linear.load_state_dict(found)
    except RuntimeError as exc:
        raise ConfigError(f"{directory / path}: its weights do not fit its config ({exc})") from None
    return nn.Sequential(linear, _ACTIVATIONS[activation]())


def sentence_head(directory: Path, steps: tuple[str, ...]) -> nn.Module:
    """The steps as one frozen module (an empty Sequential, the identity, when there are none)."""
    layers: list[nn.Module] = []
    for step in steps:
        kind, _, rest = step.partition(":")
        if kind == "normalize":
            layers.append(Normalize())
        else:
            path, _, activation = rest.rpartition(":")
            layers.append(_dense(directory, path, activation))
    return nn.Sequential(*layers).requires_grad_(False).eval()


def head_width(head: nn.Module, pooled_width: int) -> int:
    """The width of the vectors after the head: its last Dense layer's, else the pooled vectors'."""
    widths = [module.out_features for module in head.modules() if isinstance(module, nn.Linear)]
    return int(widths[-1]) if widths else pooled_width
