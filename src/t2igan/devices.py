"""Which device a stage computes on: the one policy every `device: auto` setting follows."""

from __future__ import annotations


def resolve_device(name: str) -> str:
    """'auto' means CUDA when present, else CPU."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
