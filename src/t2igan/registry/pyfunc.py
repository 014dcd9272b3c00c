"""The registered model: captions in, PNG images out, with no network and no t2igan install needed.

The model directory carries the generator (safetensors), the text encoder's own files and t2igan's code, so
`mlflow.pyfunc.load_model("models:/t2igan@champion")` works in a fresh environment. Bad requests raise
`MlflowException(INVALID_PARAMETER_VALUE)`, which the scoring server answers with a 400, not a 500.
"""

from __future__ import annotations

import base64
import io
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import DEADLINE_EXCEEDED, INVALID_PARAMETER_VALUE
from mlflow.pyfunc.model import PythonModel
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
from mlflow.types.schema import AnyType

from t2igan.env import REQUEST_SECONDS_ENV

if TYPE_CHECKING:
    from t2igan.gan.conditioning import CaptionFeatures
    from t2igan.registry.requests import ImageRequest

# seed and num_images are optional whole numbers. They are declared as any type so that the scoring server
# passes them as sent: a "long" column is cast before the model sees it (1.5 would arrive as 1, 2**63 wrapped
# negative), and t2igan.registry.requests checks them itself.
SIGNATURE = ModelSignature(
    inputs=Schema(
        [
            ColSpec("string", "caption"),
            ColSpec(AnyType(), "seed", required=False),
            ColSpec(AnyType(), "num_images", required=False),
        ]
    ),
    outputs=Schema([ColSpec("long", "row"), ColSpec("long", "seed"), ColSpec("string", "image")]),
    # An inference parameter (`"params": {"truncation": 0.7}` in a request): noise within +-t. 0 = off.
    params=ParamSchema([ParamSpec("truncation", "double", 0.0)]),
)
# The time a request may take (T2IGAN_REQUEST_SECONDS): generation stops between batches past it, so a
# request the client gave up on does not keep a core busy.
DEFAULT_REQUEST_SECONDS = 60.0
BATCH = 32


def _bad_request(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def png_base64(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class TextToImageModel(PythonModel):
    """MLflow pyfunc wrapper around the EMA generator and its text encoder."""

    def load_context(self, context: Any) -> None:
        import torch

        from t2igan.config import ValidationParams
        from t2igan.gan.export import load_generator
        from t2igan.text.encoder import TextEncoder
        from t2igan.text.spec import EncoderSpec
        from t2igan.text.tuning import TUNING_DIR

        device = "cuda" if torch.cuda.is_available() else "cpu"
        # The caption limit of the validation that admitted the training captions (models registered before
        # it was recorded: that limit's default).
        config = getattr(context, "model_config", None) or {}
        self.max_caption_chars = int(
            config.get("max_caption_chars", ValidationParams.model_fields["max_caption_chars"].default)
        )
        model_dir = Path(context.artifacts["generator"])
        self.generator, self.meta = load_generator(model_dir, device=device)
        spec = EncoderSpec.from_record(self.meta["encoder"]["spec"])
        # The base LM's files, and the adaptation trained with the generator when there was one
        tuning_dir = model_dir / TUNING_DIR if self.meta.get("text_tuning") else None
        base = Path(context.artifacts["encoder"])
        self.encoder = TextEncoder(base, spec, device=device, tuning_dir=tuning_dir)

    def predict(
        self,
        context: Any,  # noqa: ARG002 - MLflow's signature; what this needs, load_context kept
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        from t2igan.registry.requests import BadRequest, parse_requests, parse_truncation

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        try:
            requests = parse_requests(frame, self.max_caption_chars)
            truncation = parse_truncation(params)
        except BadRequest as exc:
            raise _bad_request(str(exc)) from None
        captions = list(dict.fromkeys(request.caption for request in requests))
        self._refuse_over_long(requests)
        lookup = {caption: i for i, caption in enumerate(captions)}
        text = self._features(captions).rows(np.array([lookup[request.caption] for request in requests]))
        images = self._generate(text, [request.seed for request in requests], truncation)
        return pd.DataFrame(
            {
                "row": [request.row for request in requests],
                "seed": [request.seed for request in requests],
                "image": [png_base64(image) for image in images],
            }
        )

    def _refuse_over_long(self, requests: list[ImageRequest]) -> None:
        """A caption longer than the LM reads is a 400: cutting it would draw images of another caption."""
        limit = self.encoder.spec.max_length
        first_row: dict[str, int] = {}
        for request in requests:
            first_row.setdefault(request.caption, request.row)
        lengths = self.encoder.token_lengths(list(first_row))
        for row, length in zip(first_row.values(), lengths, strict=True):
            if length > limit:
                raise _bad_request(
                    f"row {row}: the caption is {length} tokens; this model's language model "
                    f"({self.encoder.spec.name}) reads at most {limit}: shorten it"
                )

    def _features(self, captions: list[str]) -> CaptionFeatures:
        """The sentence vectors and, for a generator that attends to words, the token states, as embed wrote
        them for the training captions (the same encoder call)."""
        from t2igan.gan.conditioning import caption_features

        return caption_features(self.encoder, captions, self.generator.config.word_attention)

    def _generate(self, text: CaptionFeatures, seeds: list[int], truncation: float | None) -> np.ndarray:
        """Batch by batch, stopping past the request's time budget (a 504 that names it)."""
        from t2igan.gan.sampling import generate

        budget = float(os.environ.get(REQUEST_SECONDS_ENV, DEFAULT_REQUEST_SECONDS))
        deadline = time.monotonic() + budget
        parts: list[np.ndarray] = []
        for start in range(0, len(seeds), BATCH):
            if parts and time.monotonic() > deadline:
                raise MlflowException(
                    f"the request took longer than {budget:g} s ({REQUEST_SECONDS_ENV}); ask for fewer images",
                    error_code=DEADLINE_EXCEEDED,
                )
            end = start + BATCH
            parts.append(
                generate(self.generator, text.rows(slice(start, end)), seeds[start:end], BATCH, truncation)
            )
        return np.concatenate(parts)
