"""Text alignment on data without attributes: R-precision of generated images (t2igan.metrics.rprecision).

The image encoder is trained on the training split against the frozen caption embeddings, once per dataset
and text encoder, and cached; its R-precision on the real test images of the same rows is the ceiling.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from t2igan.data.splits import TEST, TRAIN
from t2igan.metrics.features import cache_key
from t2igan.metrics.rprecision import (
    RetrievalImageEncoder,
    load_encoder,
    r_precision,
    save_encoder,
    train_retrieval_encoder,
)

if TYPE_CHECKING:
    from t2igan.metrics.context import EvalContext

log = logging.getLogger(__name__)

SEED_OFFSET = 200_000  # generation seeds evaluate.seed + 200000 + i: apart from FID's and the judge's


def wanted(context: EvalContext) -> bool:
    """`auto`: only where the data has no ground-truth attributes (the judge measures alignment there)."""
    enabled = context.cfg.retrieval.enabled
    return enabled == "always" or (enabled == "auto" and not context.vocab)


def _encoder(context: EvalContext, train: pd.DataFrame) -> RetrievalImageEncoder:
    rcfg, store = context.cfg.retrieval, context.store
    key = cache_key(
        kind="retrieval-encoder",
        manifest=context.manifest_sha,
        text=context.text_fingerprint,
        size=int(store.shape[1]),
        params=rcfg.model_dump(exclude={"enabled", "candidates", "rounds"}),
    )
    path = context.cache_path("retrieval", f"{key}.safetensors")
    if path.is_file():
        return load_encoder(path)
    started = time.perf_counter()
    images, image_of_caption = np.unique(train["store_index"].to_numpy(), return_inverse=True)
    encoder = train_retrieval_encoder(
        store[images], image_of_caption, context.text[train.index.to_numpy()], rcfg
    )
    log.info("trained the R-precision image encoder in %.1fs", time.perf_counter() - started)
    save_encoder(encoder, path, rcfg.width)
    return encoder


def retrieval_alignment(context: EvalContext) -> dict[str, Any]:
    """R-precision of images generated for test captions, its spread over distractor draws, its ceiling."""
    from t2igan.metrics.context import pick_rows

    cfg, rcfg, store = context.cfg, context.cfg.retrieval, context.store
    train, test = context.split(TRAIN), context.split(TEST)
    if train["store_index"].nunique() < 2 or test["store_index"].nunique() < 2:
        log.warning("R-precision needs at least 2 training and 2 test images; skipped")
        return {}
    encoder = _encoder(context, train)
    rows = pick_rows(test, cfg.alignment_samples, cfg.seed + 2, one_per_image=True)
    position = {row: i for i, row in enumerate(test.index)}
    true_caption = np.array([position[row] for row in rows.index])
    fake = context.generate(rows, cfg.seed + SEED_OFFSET)
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
