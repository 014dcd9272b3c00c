"""Text alignment on data without attributes: R-precision of generated images (t2igan.metrics.rprecision).

The image encoder is trained on the training split against the frozen caption embeddings, once per dataset
and text encoder, and cached; its R-precision on the real test images of the same rows is the ceiling.
`retrieval_encoder` gets it from the data alone (no generator), for evaluation and for `t2igan describe`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from t2igan.config import RetrievalParams
from t2igan.data.manifest import read_clean_manifest
from t2igan.data.splits import TEST, TRAIN
from t2igan.data.store import ImageStore, open_images
from t2igan.io import sha256_file
from t2igan.metrics import seeds
from t2igan.metrics.context import EvalContext
from t2igan.metrics.features import cache_key
from t2igan.metrics.rows import pick_rows
from t2igan.metrics.rprecision import (
    RetrievalImageEncoder,
    load_encoder,
    r_precision,
    save_encoder,
    train_retrieval_encoder,
)
from t2igan.paths import ProjectPaths
from t2igan.text.embeddings import load_embeddings

log = logging.getLogger(__name__)


def wanted(context: EvalContext) -> bool:
    """`auto`: only where the data has no ground-truth attributes (the judge measures alignment there)."""
    enabled = context.cfg.retrieval.enabled
    return enabled == "always" or (enabled == "auto" and not context.vocab)


@dataclass(frozen=True)
class RetrievalData:
    """What the image encoder is trained on and keyed by, without a generator.

    Evaluation builds it from its context; `t2igan describe` from the project's DVC outputs alone, so both find
    the same cached encoder (the key names the data, not who asks for it).
    """

    train: pd.DataFrame  # the clean manifest's training rows; index = embedding row
    store: ImageStore  # the image store (uint8 N x H x W x 3)
    text: np.ndarray  # caption embeddings, one row per clean-manifest row
    manifest_sha: str
    text_fingerprint: str

    @classmethod
    def load(cls, paths: ProjectPaths) -> RetrievalData:
        """From validate's and embed's outputs, read as EvalContext reads them (so the key is the same)."""
        manifest = read_clean_manifest(paths).reset_index(drop=True)  # index = embedding row
        store = open_images(paths)
        embeddings = load_embeddings(paths.embeddings_dir, expected_rows=len(manifest))
        train = manifest[manifest["split"] == TRAIN]
        return cls(train, store, embeddings.vectors, sha256_file(paths.clean_manifest), embeddings.fingerprint)


def encoder_path(cfg: RetrievalParams, data: RetrievalData, cache_dir: Path) -> Path:
    """Where the encoder for this data, text encoder, image size and training settings is cached."""
    key = cache_key(
        kind="retrieval-encoder",
        manifest=data.manifest_sha,
        text=data.text_fingerprint,
        size=int(data.store.shape[1]),
        params=cfg.model_dump(exclude={"enabled", "candidates", "rounds"}),
    )
    return cache_dir / "retrieval" / f"{key}.safetensors"


def retrieval_encoder(cfg: RetrievalParams, data: RetrievalData, cache_dir: Path) -> RetrievalImageEncoder:
    """The cached encoder, trained on the training split first when there is none."""
    path = encoder_path(cfg, data, cache_dir)
    if path.is_file():
        return load_encoder(path)
    started = time.perf_counter()
    images, image_of_caption = np.unique(data.train["store_index"].to_numpy(), return_inverse=True)
    encoder = train_retrieval_encoder(
        data.store[images], image_of_caption, data.text[data.train.index.to_numpy()], cfg
    )
    log.info("trained the R-precision image encoder in %.1fs", time.perf_counter() - started)
    save_encoder(encoder, path, cfg.width)
    return encoder


def _encoder(context: EvalContext, train: pd.DataFrame) -> RetrievalImageEncoder:
    data = RetrievalData(train, context.store, context.text, context.manifest_sha, context.text_fingerprint)
    return retrieval_encoder(context.cfg.retrieval, data, context.paths.cache_dir)


def retrieval_alignment(context: EvalContext) -> dict[str, Any]:
    """R-precision of images generated for test captions, its spread over distractor draws, its ceiling."""
    cfg, rcfg, store = context.cfg, context.cfg.retrieval, context.store
    train, test = context.split(TRAIN), context.split(TEST)
    if train["store_index"].nunique() < 2 or test["store_index"].nunique() < 2:
        log.warning("R-precision needs at least 2 training and 2 test images; skipped")
        return {}
    encoder = _encoder(context, train)
    rows = pick_rows(test, cfg.alignment_samples, cfg.seed + seeds.RETRIEVAL_ROWS, one_per_image=True)
    position = {row: i for i, row in enumerate(test.index)}
    true_caption = np.array([position[row] for row in rows.index])
    fake = context.generate(rows, cfg.seed + seeds.RETRIEVAL_IMAGES)
    scores = {}
    for label, images in {"generated": fake, "real": store[rows["store_index"].to_numpy()]}.items():
        scores[label] = r_precision(
            encoder.embed(images),
            true_caption,
            caption_image=test["store_index"].to_numpy(),
            image_id=rows["store_index"].to_numpy(),
            text=context.text[test.index.to_numpy()],
            candidates=rcfg.candidates,
            rounds=rcfg.rounds,
            seed=rcfg.seed,
        )
    return {
        "r_precision": scores["generated"][0],
        "r_precision_std": scores["generated"][1],
        "r_precision_ceiling": scores["real"][0],
        "r_precision_candidates": min(rcfg.candidates, len(test)),
    }
