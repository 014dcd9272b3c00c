"""`CaptionIndex`: the retrieval encoder and the caption matrix, loaded once, asked many times.

The studio keeps one index per process and calls `describe` per upload; the CLI builds one per call. Loading
gets the encoder through `t2igan.metrics.retrieval.retrieval_encoder` with the data read as evaluation reads
it, so it is the very file evaluation caches (and trains it, exactly as evaluation would, when it is missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from t2igan.config import Params
from t2igan.describe.captions import unique_captions
from t2igan.describe.checks import DEFAULT_TOP_K, check_top_k
from t2igan.describe.inputs import require_pipeline_outputs
from t2igan.describe.upload import upload_pixels
from t2igan.errors import StageInputError
from t2igan.metrics.retrieval import RetrievalData, encoder_path, retrieval_encoder
from t2igan.metrics.rprecision import RetrievalImageEncoder
from t2igan.paths import ProjectPaths


@dataclass(frozen=True)
class Match:
    """One caption and its cosine similarity to the image (in [-1, 1]; higher describes it better)."""

    caption: str
    score: float


@dataclass(frozen=True, eq=False)
class CaptionIndex:
    """Unique training captions as unit vectors, and the image encoder that maps images next to them."""

    captions: tuple[str, ...]
    vectors: np.ndarray  # float32 [len(captions), text dim], unit rows
    encoder: RetrievalImageEncoder
    encoder_path: Path  # the cached weights (evaluation's R-precision encoder)
    image_size: int  # the image store's side: uploads are resized to it
    max_pixels: int  # validation.max_pixels: the decompression-bomb guard uploads pass too

    @classmethod
    def load(cls, params: Params, paths: ProjectPaths) -> CaptionIndex:
        """From the data stages' outputs; trains and caches the encoder when evaluation has not yet."""
        require_pipeline_outputs(paths)
        data = RetrievalData.load(paths)
        if data.train["store_index"].nunique() < 2:
            raise StageInputError(
                f"{paths.clean_manifest}: describing images needs at least 2 training images "
                "(the encoder learns by contrast)"
            )
        cfg = params.evaluate.retrieval
        encoder = retrieval_encoder(cfg, data, paths.cache_dir)
        captions, vectors = unique_captions(data.train, data.text)
        return cls(
            captions,
            vectors,
            encoder,
            encoder_path(cfg, data, paths.cache_dir),
            int(data.store.shape[1]),
            params.validation.max_pixels,
        )

    def describe(self, image: bytes | np.ndarray, top_k: int = DEFAULT_TOP_K) -> list[Match]:
        """The `top_k` captions closest to the image, best first (ties keep manifest order).

        `image`: PNG, JPEG or WebP bytes, or uint8 HxWx3 pixels. Refusals raise `BadDescribeRequest`.
        """
        top_k = check_top_k(top_k)
        pixels = upload_pixels(image, self.image_size, self.max_pixels)
        embedded = self.encoder.embed(pixels[None])[0]
        scores = np.clip(self.vectors @ embedded, -1.0, 1.0)
        best = np.argsort(-scores, kind="stable")[:top_k]
        return [Match(self.captions[i], float(scores[i])) for i in best]
