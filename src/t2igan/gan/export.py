"""A trained generator on disk: safetensors weights plus its config, nothing pickled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from t2igan.errors import StageInputError
from t2igan.gan.architecture import GANConfig
from t2igan.gan.generator import Generator
from t2igan.io import atomic_path, read_json, write_json

WEIGHTS_FILE = "generator.safetensors"
CONFIG_FILE = "generator.json"


def save_generator(generator: Generator, directory: Path, metadata: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp))
    write_json(directory / CONFIG_FILE, {"gan": generator.config.to_dict(), **metadata})


def load_generator(directory: Path, device: str | torch.device = "cpu") -> tuple[Generator, dict[str, Any]]:
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise StageInputError(f"{config_path}: no exported generator here (run `t2igan train` first)")
    meta = read_json(config_path)
    generator = Generator(GANConfig.from_dict(meta["gan"]))
    generator.load_state_dict(load_file(str(directory / WEIGHTS_FILE), device="cpu"))
    return generator.eval().requires_grad_(False).to(device), meta
