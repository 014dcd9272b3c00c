"""An encoder's spec: everything that changes the vectors it produces, read from params and the checkpoint's
config files without loading its weights. Its fingerprint keys the embedding cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from t2igan.config import EmbedParams
from t2igan.devices import resolve_device
from t2igan.errors import ConfigError
from t2igan.io import read_json
from t2igan.text.families import DEFAULT_POOLING, detect_family, layer_count
from t2igan.text.locate import cached_weights_hash, hub_commit, resolve_encoder_path
from t2igan.text.sentence_dirs import read_head, read_max_seq_length, read_pooling


@dataclass(frozen=True)
class EncoderSpec:
    """Everything that changes the vectors an encoder produces (the transformers version too: its kernels)."""

    name: str
    weights_sha256: str
    family: str
    pooling: str
    layer: int | None
    normalize: bool
    max_length: int
    dtype: str
    transformers: str
    # A sentence-transformers directory's steps after its pooling (Dense, Normalize: text.sentence_dirs)
    head: tuple[str, ...] = ()
    # The Hugging Face commit the weights came from (None: a local directory or a packaged encoder)
    revision: str | None = None

    def record(self) -> dict[str, Any]:
        """The spec as encoder.json holds it; a spec without a head or a revision is written (and keyed) as
        before they were read, so the caches and registered models of every other encoder keep their keys."""
        values = asdict(self)
        if not self.head:
            values.pop("head")
        else:
            values["head"] = list(self.head)
        if self.revision is None:
            values.pop("revision")
        return values

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.record(), sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> EncoderSpec:
        """A spec from encoder.json (records written before the family fields: their meaning then)."""
        import transformers

        legacy = {
            "family": "encoder",
            "layer": None,
            "transformers": transformers.__version__,
            "head": (),
            "revision": None,
        }
        values = {**legacy, **record}
        values.setdefault("dtype", values.pop("precision", "float32"))
        values.pop("precision", None)
        values["head"] = tuple(values["head"])
        return cls(**{name: values[name] for name in cls.__dataclass_fields__})


def _position_limit(config: Any) -> int | None:
    """Absolute positions the model has (None for relative positions, as in T5)."""
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    text_config = getattr(config, "text_config", None)
    return _position_limit(text_config) if text_config is not None else None


def _resolve_max_length(cfg: EmbedParams, path: Path, config: Any, sentence_limit: int | None) -> int:
    """The configured length, else the model's own: sentence-transformers' max_seq_length, the tokenizer's
    model_max_length, its positions; refused when longer than the positions the model has."""
    positions = _position_limit(config)
    if cfg.max_length is not None:
        if positions is not None and cfg.max_length > positions:
            raise ConfigError(
                f"embed.max_length: {cfg.max_length} is more than the {positions} positions of {path.name}"
            )
        return cfg.max_length
    tokenizer_config = path / "tokenizer_config.json"
    tokenizer_limit = (
        read_json(tokenizer_config).get("model_max_length") if tokenizer_config.is_file() else None
    )
    for candidate in (sentence_limit, tokenizer_limit, positions):
        if isinstance(candidate, int | float) and 0 < candidate < 1_000_000:
            return min(int(candidate), positions or int(candidate))
    return 512


def _resolve_dtype(name: str, device: str) -> str:
    if name != "auto":
        return name
    if device.startswith("cuda") and torch.cuda.is_available():
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float32"


def resolve_spec(cfg: EmbedParams, path: Path, weights_sha256: str) -> EncoderSpec:
    """The spec from params and the checkpoint's config files, without loading its weights."""
    import transformers

    config = transformers.AutoConfig.from_pretrained(path)
    family = detect_family(config, str(path))
    pooling: str = cfg.pooling
    head: tuple[str, ...] = ()
    if pooling == "auto":  # a sentence-transformers directory's own pooling, else the family's
        own = read_pooling(path) if family == "encoder" else None
        pooling = own or DEFAULT_POOLING[family]
        # and what it applies after its pooling (Dense, Normalize), which belongs to its pooling of its last
        # layer: another pooling named in params, or another layer, is the transformer pooled that way alone
        head = read_head(path) if own is not None and cfg.layer is None else ()
    if cfg.layer is not None:
        layers = layer_count(getattr(config, "text_config", None) or config)
        if not -(layers + 1) <= cfg.layer <= layers:
            raise ConfigError(f"embed.layer: {cfg.layer} is outside the {layers} layers of {path.name}")
        if pooling == "tower":
            raise ConfigError(
                f"embed.layer: a {family} tower's own embedding comes from its last layer; "
                "set embed.pooling to mean or last to pool another one"
            )
    return EncoderSpec(
        name=cfg.encoder,
        weights_sha256=weights_sha256,
        family=family,
        pooling=pooling,
        layer=cfg.layer,
        normalize=cfg.normalize,
        max_length=_resolve_max_length(cfg, path, config, read_max_seq_length(path)),
        dtype=_resolve_dtype(cfg.dtype, resolve_device(cfg.device)),
        transformers=transformers.__version__,
        head=head,
        revision=hub_commit(path),
    )


def spec_from_params(cfg: EmbedParams, cache_dir: Path) -> tuple[EncoderSpec, Path]:
    """The encoder's identity and files without loading it: when every caption is cached, no model loads."""
    path = resolve_encoder_path(cfg.encoder, cfg.revision)
    return resolve_spec(cfg, path, cached_weights_hash(path, cache_dir)), path
