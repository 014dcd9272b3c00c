"""A sentence-transformers directory's own settings: its pooling module and its max_seq_length.

A model saved by sentence-transformers says how it was trained to be pooled (`modules.json` names a Pooling
module whose `config.json` sets the mode) and how many tokens it reads (`sentence_bert_config.json`). Using
them is what makes our vectors equal the library's, whatever pooling the author chose.
"""

from __future__ import annotations

from pathlib import Path

from t2igan.errors import ConfigError
from t2igan.io import read_json

# sentence-transformers' Pooling flags, and the pooling of ours each one is.
_MODES = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_lasttoken": "last",
}


def read_pooling(directory: Path) -> str | None:
    """The Pooling module's mode; None when this is not a sentence-transformers directory or has none."""
    modules_file = directory / "modules.json"
    if not modules_file.is_file():
        return None
    modules = read_json(modules_file)
    pooling = [m for m in modules if str(m.get("type", "")).endswith("Pooling")]
    if not pooling:
        return None
    config_file = directory / str(pooling[0].get("path", "")) / "config.json"
    config = read_json(config_file) if config_file.is_file() else {}
    chosen = [ours for flag, ours in _MODES.items() if config.get(flag)]
    others = sorted(k for k, v in config.items() if k.startswith("pooling_mode") and v and k not in _MODES)
    if others or len(chosen) != 1:
        modes = ", ".join(others or [flag for flag in _MODES if config.get(flag)]) or "none"
        raise ConfigError(
            f"{config_file}: pooling {modes} is not supported; set embed.pooling to one of mean, cls, last, max"
        )
    return chosen[0]


def read_max_seq_length(directory: Path) -> int | None:
    config_file = directory / "sentence_bert_config.json"
    if not config_file.is_file():
        return None
    value = read_json(config_file).get("max_seq_length")
    return int(value) if isinstance(value, int) else None
