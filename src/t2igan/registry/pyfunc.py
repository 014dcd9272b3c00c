"""The registered model: captions in, PNG images out, with no network and no t2igan install needed.

The model directory carries the generator (safetensors), the text encoder's own files and t2igan's code, so
`mlflow.pyfunc.load_model("models:/t2igan@champion")` works in a fresh environment. Bad requests raise
`MlflowException(INVALID_PARAMETER_VALUE)`, which the scoring server answers with a 400, not a 500.
"""

from __future__ import annotations

import base64
import io
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc.model import PythonModel
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

MAX_NUM_IMAGES = 16

# seed and num_images are optional columns: give them for every row of a request or for none (MLflow's
# schema check refuses a long column that is missing in some rows).
SIGNATURE = ModelSignature(
    inputs=Schema(
        [
            ColSpec("string", "caption"),
            ColSpec("long", "seed", required=False),
            ColSpec("long", "num_images", required=False),
        ]
    ),
    outputs=Schema([ColSpec("long", "row"), ColSpec("long", "seed"), ColSpec("string", "image")]),
    # An inference parameter (`"params": {"truncation": 0.7}` in a request): redraw noise beyond +-t. 0 = off.
    params=ParamSchema([ParamSpec("truncation", "double", 0.0)]),
)


def _bad_request(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def png_base64(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _optional_int(row: pd.Series, column: str) -> int | None:
    value = row.get(column)
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _bad_request(f"{column} must be an integer, got {value!r}") from None
    if not number.is_integer():
        raise _bad_request(f"{column} must be an integer, got {value!r}")
    return int(number)


class TextToImageModel(PythonModel):
    """MLflow pyfunc wrapper around the EMA generator and its text encoder."""

    def load_context(self, context: Any) -> None:
        import torch

        from t2igan.config import ValidationParams
        from t2igan.gan.export import load_generator
        from t2igan.text.encoder import TextEncoder

        device = "cuda" if torch.cuda.is_available() else "cpu"
        # The caption limit of the validation that admitted the training captions (models registered before
        # it was recorded: that limit's default).
        config = getattr(context, "model_config", None) or {}
        self.max_caption_chars = int(
            config.get("max_caption_chars", ValidationParams.model_fields["max_caption_chars"].default)
        )
        self.generator, self.meta = load_generator(Path(context.artifacts["generator"]), device=device)
        spec = self.meta["encoder"]["spec"]
        self.encoder = TextEncoder(
            Path(context.artifacts["encoder"]),
            name=spec["name"],
            pooling=spec["pooling"],
            normalize=spec["normalize"],
            max_length=spec["max_length"],
            precision=spec.get("precision", "float32"),
            device=device,
        )

    def _requests(self, frame: pd.DataFrame) -> list[tuple[int, str, int, int]]:
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(frame)
        if "caption" not in frame.columns:
            raise _bad_request("missing required column 'caption'")
        if frame.empty:
            raise _bad_request("no rows: send at least one caption")
        out = []
        for index, (_, row) in enumerate(frame.iterrows()):
            caption = row["caption"]
            if not isinstance(caption, str) or not caption.strip():
                raise _bad_request(f"row {index}: caption must be a non-empty string")
            if len(caption) > self.max_caption_chars:
                raise _bad_request(
                    f"row {index}: caption has {len(caption)} characters (limit {self.max_caption_chars})"
                )
            count = _optional_int(row, "num_images") or 1
            if not 1 <= count <= MAX_NUM_IMAGES:
                raise _bad_request(
                    f"row {index}: num_images must be between 1 and {MAX_NUM_IMAGES}, got {count}"
                )
            seed = _optional_int(row, "seed")
            if seed is not None and seed < 0:
                raise _bad_request(f"row {index}: seed must be >= 0, got {seed}")
            base = seed if seed is not None else secrets.randbelow(2**31)
            out += [(index, caption, base + k, count) for k in range(count)]
        return out

    def predict(
        self,
        context: Any,  # noqa: ARG002 - MLflow's signature; what this needs, load_context kept
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        from t2igan.gan.sampling import generate

        requests = self._requests(model_input)
        truncation = float((params or {}).get("truncation") or 0.0)
        if truncation < 0:
            raise _bad_request(f"truncation must be >= 0 (0 = off), got {truncation}")
        captions = list(dict.fromkeys(caption for _, caption, _, _ in requests))
        vectors = self.encoder.encode(captions)
        lookup = {caption: i for i, caption in enumerate(captions)}
        text = vectors[[lookup[caption] for _, caption, _, _ in requests]]
        seeds = [seed for _, _, seed, _ in requests]
        images = generate(self.generator, text, seeds, truncation=truncation or None)
        return pd.DataFrame(
            {
                "row": [row for row, _, _, _ in requests],
                "seed": [seed for _, _, seed, _ in requests],
                "image": [png_base64(image) for image in images],
            }
        )
