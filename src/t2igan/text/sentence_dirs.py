"""A sentence-transformers directory's own pipeline: its pooling, what follows the pooling, its length.

A model saved by sentence-transformers lists its modules in `modules.json`: the Transformer, a Pooling module
whose `config.json` sets the mode (`"pooling_mode": "mean"` since sentence-transformers 5; one boolean flag
per mode before), and often more after it: a Dense layer (LaBSE, the distiluse models) and a Normalize. Using
all of them is what makes our vectors the library's, whatever the author chose; a module we do not read is
refused in one line rather than skipped (skipping a Dense gives vectors of another width and meaning).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from t2igan.errors import ConfigError
from t2igan.io import read_json

MODULES_FILE = "modules.json"
# sentence-transformers' Pooling modes, in both formats, and the pooling of ours each one is.
_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_lasttoken": "last",
}
_MODES = {"cls": "cls", "mean": "mean", "max": "max", "lasttoken": "last"}
_UNSUPPORTED = "is not supported; set embed.pooling to one of mean, cls, last, max"
# The activations a Dense module may name (its config stores the class path), and the name we record.
DENSE_ACTIVATIONS = {
    "torch.nn.modules.linear.Identity": "identity",
    "torch.nn.modules.activation.Tanh": "tanh",
    "torch.nn.modules.activation.ReLU": "relu",
    "torch.nn.modules.activation.GELU": "gelu",
    "torch.nn.modules.activation.Sigmoid": "sigmoid",
}
_READ = ("Transformer", "Pooling", "Dense", "Normalize", "Dropout")


def _modules(directory: Path) -> list[dict[str, Any]] | None:
    modules_file = directory / MODULES_FILE
    if not modules_file.is_file():
        return None
    modules: list[dict[str, Any]] = read_json(modules_file)
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        if kind not in _READ:
            raise ConfigError(
                f"{modules_file}: module {kind} ({module.get('path') or 'the root'}) is not one t2igan reads "
                f"({', '.join(_READ)}); point embed.encoder at the transformer alone"
            )
    return modules


def _kind(module: dict[str, Any]) -> str:
    return str(module.get("type", "")).rsplit(".", 1)[-1]


def read_pooling(directory: Path) -> str | None:
    """The Pooling module's mode; None when this is not a sentence-transformers directory or has none."""
    modules = _modules(directory)
    pooling = [m for m in modules or [] if _kind(m) == "Pooling"]
    if not pooling:
        return None
    config_file = directory / str(pooling[0].get("path", "")) / "config.json"
    config = read_json(config_file) if config_file.is_file() else {}
    if "pooling_mode" in config:  # sentence-transformers 5 and later
        mode = str(config["pooling_mode"])
        if mode not in _MODES:
            raise ConfigError(f"{config_file}: pooling {mode} {_UNSUPPORTED}")
        return _MODES[mode]
    chosen = [ours for flag, ours in _FLAGS.items() if config.get(flag)]
    others = sorted(k for k, v in config.items() if k.startswith("pooling_mode") and v and k not in _FLAGS)
    if others or len(chosen) != 1:
        modes = ", ".join(others or [flag for flag in _FLAGS if config.get(flag)]) or "none"
        raise ConfigError(f"{config_file}: pooling {modes} {_UNSUPPORTED}")
    return chosen[0]


def read_head(directory: Path) -> tuple[str, ...]:
    """What the directory applies after pooling, in order: `dense:<path>:<activation>` and `normalize`
    (Dropout does nothing at inference); () for a directory with none, or that is no sentence-transformers
    directory. The steps go into the encoder's spec, so they key the embedding cache."""
    modules = _modules(directory) or []
    kinds = [_kind(m) for m in modules]
    if "Pooling" not in kinds:
        return ()
    steps: list[str] = []
    for module in modules[kinds.index("Pooling") + 1 :]:
        kind, path = _kind(module), str(module.get("path", ""))
        if kind == "Dense":
            config = read_json(directory / path / "config.json")
            named = str(config.get("activation_function", "torch.nn.modules.activation.Tanh"))
            if named not in DENSE_ACTIVATIONS:
                raise ConfigError(
                    f"{directory / path / 'config.json'}: activation {named} is not one t2igan reads "
                    f"({', '.join(sorted(DENSE_ACTIVATIONS.values()))})"
                )
            steps.append(f"dense:{path}:{DENSE_ACTIVATIONS[named]}")
        elif kind == "Normalize":
            steps.append("normalize")
        elif kind != "Dropout":
            raise ConfigError(f"{directory / MODULES_FILE}: a {kind} module after the pooling is not supported")
    return tuple(steps)


def read_max_seq_length(directory: Path) -> int | None:
    config_file = directory / "sentence_bert_config.json"
    if not config_file.is_file():
        return None
    value = read_json(config_file).get("max_seq_length")
    return int(value) if isinstance(value, int) else None
