"""Small evaluation networks (the judge, the retrieval encoder) cached as safetensors plus a JSON sidecar.

The sidecar is written first and the weights file appears atomically after it, so a weights file on disk
always means a complete cache entry; nothing is pickled.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from safetensors.torch import load_file, save_file
from torch import nn

from t2igan.io import atomic_path, write_json

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def save_module(module: nn.Module, path: Path, meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path.with_suffix(".json"), meta)
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(tmp))


def load_module(path: Path, build: Callable[[dict[str, Any]], ModuleT]) -> ModuleT:
    """Rebuild the module from its sidecar with `build(meta)`, load the weights, put it in eval mode."""
    module = build(json.loads(path.with_suffix(".json").read_text()))
    module.load_state_dict(load_file(str(path)))
    return module.eval()
