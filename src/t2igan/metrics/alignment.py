"""Text alignment on data with ground-truth attributes: what the judge reads in generated images.

For each scored caption an image is generated and the judge (t2igan.metrics.judge) reads its color, shape,
size, position and background; the accuracy per attribute, on held-out color-shape combinations and on seen
ones, is the alignment. The judge's accuracy on the real images of the same rows is its ceiling. The judge is
trained once per dataset and cached.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from t2igan.data.splits import HELDOUT, TEST, TRAIN
from t2igan.metrics import seeds
from t2igan.metrics.context import EvalContext
from t2igan.metrics.features import cache_key
from t2igan.metrics.judge import AttributeJudge, accuracy, encode_labels, load_judge, save_judge, train_judge
from t2igan.metrics.rows import pick_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttributeReading:
    figures: dict[str, Any]  # attr_acc_<pool> and judge_ceiling_<pool>, each per attribute and mean
    confusion: dict[str, dict[str, Any]]  # held-out combinations: asked (rows) x drawn (columns), per attribute
    # per scored held-out image, the share of its attributes the judge read right: the alignment is their
    # mean, and two models scored on the same rows are compared image by image (t2igan.metrics.noise)
    heldout_scores: np.ndarray | None = None


def judge_rows(manifest: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows the judge trains on, held-out rows it is scored on).

    The judge must know every color-shape combination, or it reads shape from color and its verdict on
    held-out combinations means little. So it trains on the training images plus every other held-out image
    (the generator never sees any of them), and its ceiling is measured on the held-out images it did not see.
    """
    images = manifest.drop_duplicates("store_index").sort_values("store_index", kind="stable")
    heldout = images[images["split"] == HELDOUT]
    judge_heldout = heldout.iloc[::2]
    train = pd.concat([images[images["split"] == TRAIN], judge_heldout])
    scored = manifest[
        (manifest["split"] == HELDOUT) & ~manifest["store_index"].isin(judge_heldout["store_index"])
    ]
    return train, scored


def confusion_counts(
    predicted: dict[str, np.ndarray], labels: dict[str, np.ndarray], vocab: dict[str, list[str]]
) -> dict[str, dict[str, Any]]:
    tables = {}
    for name, values in vocab.items():
        counts = np.zeros((len(values), len(values)), dtype=np.int64)
        np.add.at(counts, (labels[name], predicted[name]), 1)
        tables[name] = {"values": list(values), "counts": counts.tolist()}
    return tables


def _judge(context: EvalContext, train_rows: pd.DataFrame, attributes: pd.Series) -> AttributeJudge:
    cfg = context.cfg.judge
    key = cache_key(
        manifest=context.manifest_sha, judge=cfg.model_dump(), vocab=context.vocab, rows="train+heldout/2"
    )
    path = context.cache_path("judge", f"{key}.safetensors")
    if path.is_file():
        return load_judge(path)
    started = time.perf_counter()
    images = context.store[train_rows["store_index"].to_numpy()]
    judge = train_judge(
        images, encode_labels(attributes[train_rows.index].tolist(), context.vocab), context.vocab, cfg
    )
    log.info("trained the attribute judge in %.1fs", time.perf_counter() - started)
    save_judge(judge, path)
    return judge


def attribute_judge(context: EvalContext) -> AttributeJudge:
    """The dataset's judge (trained once, cached): what reads the attributes of any generated image."""
    train_rows, _ = judge_rows(context.manifest)
    return _judge(context, train_rows, context.manifest["attributes"].map(json.loads))


def attribute_reading(context: EvalContext) -> AttributeReading | None:
    """What the judge read in this evaluation's images (computed once; None for data without attributes):
    the figures, the report's confusion tables and the champion's re-scoring read it."""
    return context.shared("attributes", lambda: read_attributes(context) if context.vocab else None)


def read_attributes(context: EvalContext) -> AttributeReading:
    cfg, manifest, store, vocab = context.cfg, context.manifest, context.store, context.vocab
    attributes = manifest["attributes"].map(json.loads)
    _, heldout_scored = judge_rows(manifest)
    judge = attribute_judge(context)
    figures: dict[str, Any] = {}
    confusion: dict[str, dict[str, Any]] = {}
    scores: np.ndarray | None = None
    for label, pool in {HELDOUT: heldout_scored, "seen": context.split(TEST)}.items():
        rows = pick_rows(pool, cfg.alignment_samples, cfg.seed + seeds.ATTRIBUTE_ROWS, one_per_image=False)
        if rows.empty:
            continue
        labels = encode_labels(attributes[rows.index].tolist(), vocab)
        predicted = judge.predict(context.generate(rows, cfg.seed + seeds.ATTRIBUTE_IMAGES))
        figures[f"attr_acc_{label}"] = accuracy(predicted, labels)
        figures[f"judge_ceiling_{label}"] = accuracy(
            judge.predict(store[rows["store_index"].to_numpy()]), labels
        )
        if label == HELDOUT:
            confusion = confusion_counts(predicted, labels, vocab)
            scores = np.mean([predicted[name] == labels[name] for name in labels], axis=0)
    return AttributeReading(figures, confusion, scores)
