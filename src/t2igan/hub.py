"""What language models and vision networks from Hugging Face checkpoints share: loading them quietly, and
the identity of their weights whatever the directory is called."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def weight_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)


def weights_hash(directory: Path) -> str:
    """sha256 over the weight files (names and bytes): a checkpoint's identity, whatever it is called."""
    digest = hashlib.sha256()
    for path in weight_files(directory):
        digest.update(str(path.relative_to(directory)).encode())
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Loading one tower from a full checkpoint (CLIP's text or vision tower) leaves the other tower's weights
    unused, as it should: transformers' load report would print each of them as a warning, and a progress bar
    per load."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
