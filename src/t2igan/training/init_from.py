"""Where fine-tuning starts: the weights of a registered model or a checkpoint, checked against this run.

`train.init_from` takes `models:/<name>@<alias>` or `models:/<name>/<version>` (the registered pyfunc model's
`generator` artifact: G's EMA weights, no discriminator), a checkpoint file `ckpt-*.pt` or a checkpoints
directory (G, D and EMA), or an exported model directory (`artifacts/train/model`). An alias is resolved
to its version once, when the run starts, and that version is recorded: the alias may move later.

The source must have been trained with the same architecture and the same text encoder; anything else would
load weights into the wrong shapes or read a different embedding space, so it is refused with one line that
says what differs.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from t2igan.errors import ConfigError
from t2igan.gan.architecture import DISCRIMINATOR_INPUT, GANConfig
from t2igan.gan.export import CONFIG_FILE, WEIGHTS_FILE
from t2igan.io import read_json
from t2igan.paths import ProjectPaths
from t2igan.text.embeddings import ENCODER_FILE
from t2igan.text.tuning import TUNING_DIR, Tuning, read_saved_weights, read_tuning
from t2igan.training.checkpoint import CheckpointManager


@dataclass(frozen=True)
class InitialWeights:
    requested: str  # train.init_from as written
    resolved: str  # what it pointed to when read: models:/t2igan/3, or a file
    gan: dict[str, Any]
    generator: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor]
    discriminator: dict[str, torch.Tensor] | None  # registered models carry no discriminator
    encoder_fingerprint: str | None
    text: dict[str, torch.Tensor] | None = None  # the adapted LM's weights, when its training adapted it
    text_record: dict[str, Any] | None = None  # an exported adaptation's tuning.json (None: checkpoint names)


def load_initial_weights(spec: str, paths: ProjectPaths) -> InitialWeights:
    if spec.startswith("models:/"):
        return _from_registry(spec, paths)
    path = Path(spec) if Path(spec).is_absolute() else paths.root / spec
    if path.is_dir() and (path / CONFIG_FILE).is_file():
        return _from_export(spec, path, path)
    if path.is_dir():
        found = CheckpointManager(path, keep_last=1).newest_intact()
        if found is None:
            raise ConfigError(f"train.init_from {spec}: no intact checkpoint in this directory")
        return _from_checkpoint(spec, *found)
    if path.is_file():
        try:
            state = CheckpointManager(path.parent, keep_last=1).read(path)
        except ValueError as exc:
            raise ConfigError(f"train.init_from {spec}: {exc}") from None
        return _from_checkpoint(spec, path, state)
    raise ConfigError(f"train.init_from {spec}: no such file or directory, and not a models:/ URI")


def _from_checkpoint(spec: str, path: Path, state: dict[str, Any]) -> InitialWeights:
    trainer = state["trainer"]
    encoder = state.get("encoder_fingerprint")
    return InitialWeights(
        spec,
        str(path),
        state["gan"],
        trainer["generator"],
        trainer["ema"],
        trainer["discriminator"],
        encoder,
        trainer.get("text"),
    )


def _from_export(spec: str, resolved: str | Path, directory: Path) -> InitialWeights:
    meta = read_json(directory / CONFIG_FILE)
    weights = load_file(str(directory / WEIGHTS_FILE), device="cpu")
    encoder_file = directory / ENCODER_FILE
    fingerprint = read_json(encoder_file).get("fingerprint") if encoder_file.is_file() else None
    record = read_tuning(directory / TUNING_DIR)
    text = read_saved_weights(directory / TUNING_DIR, Tuning.from_record(record)) if record else None
    return InitialWeights(
        spec, str(resolved), meta["gan"], weights, dict(weights), None, fingerprint, text, record
    )


def _from_registry(spec: str, paths: ProjectPaths) -> InitialWeights:
    import mlflow
    from mlflow.exceptions import MlflowException

    from t2igan.tracking import configure

    configure(paths)
    name_and_ref = spec.removeprefix("models:/")
    try:
        client = mlflow.MlflowClient()
        if "@" in name_and_ref:
            name, alias = name_and_ref.split("@", 1)
            version = client.get_model_version_by_alias(name, alias).version
        else:
            name, version = name_and_ref.rsplit("/", 1)
        resolved = f"models:/{name}/{version}"
        # Only the generator's files: the MLmodel file says where the pyfunc model keeps that artifact.
        artifacts = mlflow.models.Model.load(resolved).flavors["python_function"].get("artifacts", {})
        if "generator" not in artifacts:
            raise ValueError(f"{resolved} is not a t2igan model (no generator artifact)")
        with tempfile.TemporaryDirectory(prefix="t2igan-init-") as tmp:
            subpath = artifacts["generator"]["path"]
            local = mlflow.artifacts.download_artifacts(f"{resolved}/{subpath}", dst_path=tmp)
            return _from_export(spec, resolved, Path(local))
    except (MlflowException, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"train.init_from {spec}: {first_line}") from None


def check_compatible(source: InitialWeights, gan: GANConfig, encoder_fingerprint: str) -> None:
    """Refuse a source of another architecture or text encoder, naming what differs."""
    theirs = GANConfig.from_dict(source.gan).to_dict()
    differs = [
        f"{key} {theirs[key]} (this run: {value})"
        for key, value in gan.to_dict().items()
        if theirs[key] != value and key not in DISCRIMINATOR_INPUT
    ]
    if differs:
        raise ConfigError(
            f"train.init_from {source.requested}: a different architecture: " + ", ".join(differs)
        )
    if source.encoder_fingerprint is not None and source.encoder_fingerprint != encoder_fingerprint:
        raise ConfigError(
            f"train.init_from {source.requested}: trained with another text encoder "
            f"(fingerprint {source.encoder_fingerprint[:12]}, this run {encoder_fingerprint[:12]}); "
            "set embed.encoder to the one it used"
        )
