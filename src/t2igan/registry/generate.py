"""`t2igan generate`: PNGs for a caption from a registered model, loaded as any MLflow client loads it."""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd

from t2igan.errors import ConfigError
from t2igan.paths import ProjectPaths
from t2igan.tracking import configure, tracking_uri


def generate_files(
    paths: ProjectPaths,
    caption: str,
    model_uri: str,
    output: Path,
    num_images: int,
    seed: int,
    truncation: float | None = None,
) -> list[Path]:
    """output.png, or output-<k>.png for several images, from the project's registry; bad requests are
    one-line errors."""
    import mlflow

    configure(paths)
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except mlflow.exceptions.MlflowException as exc:
        raise ConfigError(f"cannot load {model_uri} from {tracking_uri(paths)}: {exc.message}") from None
    try:
        request = pd.DataFrame({"caption": [caption], "seed": [seed], "num_images": [num_images]})
        frame = model.predict(request, params={"truncation": truncation} if truncation else None)
    except mlflow.exceptions.MlflowException as exc:
        raise ConfigError(exc.message) from None
    written = []
    for k, data in enumerate(frame["image"]):
        target = output if num_images == 1 else output.with_name(f"{output.stem}-{k}{output.suffix}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data))
        written.append(target)
    return written
