"""Alignment on the hard prompts: the captions people voted "both bad" or thumbed down in the studio.

They come from `data/hard_prompts.csv` (the `prompts` stage exports them from the feedback database), so
each retraining reports how the new generator does where people found the last ones wanting, apart from the
test captions. Captions people typed are not in the embedding cache: they go through the model's own
language model here. On data with ground-truth attributes the judge reads each image, and a prompt scores
the share of the attributes it names (by their words) that were drawn; elsewhere the score is the cosine of
the retrieval encoder's image embedding with the caption's, beside the same on test captions.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from t2igan.data.hard_prompts import read_hard_prompts
from t2igan.data.splits import TEST, TRAIN
from t2igan.gan.sampling import generate
from t2igan.metrics import seeds
from t2igan.metrics.alignment import attribute_judge
from t2igan.metrics.context import EvalContext
from t2igan.metrics.retrieval import RetrievalData, retrieval_encoder

MAX_PROMPTS = 500  # the most-recent set is small; this bounds evaluation time if it is not


def named_attributes(caption: str, vocab: dict[str, list[str]]) -> dict[str, str]:
    """The attribute values a caption names by their words (an attribute named twice, ambiguously: skipped)."""
    words = set(re.findall(r"[a-z]+", caption.lower()))
    named = {}
    for name, values in vocab.items():
        found = [value for value in values if set(value.lower().split()) <= words]
        if len(found) == 1:
            named[name] = found[0]
    return named


def _judged(context: EvalContext, captions: list[str], images: np.ndarray) -> dict[str, Any]:
    predicted = attribute_judge(context).predict(images)
    scores = []
    for i, caption in enumerate(captions):
        named = named_attributes(caption, context.vocab)
        if named:
            index = {name: context.vocab[name].index(value) for name, value in named.items()}
            scores.append(np.mean([predicted[name][i] == value for name, value in index.items()]))
    return {"hard_prompts_alignment": float(np.mean(scores))} if scores else {}


def _retrieved(context: EvalContext, text: np.ndarray, images: np.ndarray) -> dict[str, Any]:
    data = RetrievalData(
        context.split(TRAIN), context.store, context.text, context.manifest_sha, context.text_fingerprint
    )
    encoder = retrieval_encoder(context.cfg.retrieval, data, context.paths.cache_dir)
    unit = text / np.linalg.norm(text, axis=1, keepdims=True).clip(1e-12)
    hard = float(np.mean(np.sum(encoder.embed(images) * unit, axis=1)))
    test = context.split(TEST).drop_duplicates("store_index").head(len(images))
    fake = context.generate(test, context.cfg.seed + seeds.HARD_PROMPT_IMAGES)
    baseline = context.text[test.index.to_numpy()]
    baseline = baseline / np.linalg.norm(baseline, axis=1, keepdims=True).clip(1e-12)
    return {
        "hard_prompts_similarity": hard,
        "hard_prompts_similarity_test": float(np.mean(np.sum(encoder.embed(fake) * baseline, axis=1))),
    }


def hard_prompt_alignment(context: EvalContext) -> dict[str, Any]:
    captions = read_hard_prompts(context.paths.hard_prompts)[:MAX_PROMPTS]
    if not captions:
        return {}
    first = context.cfg.seed + seeds.HARD_PROMPT_IMAGES
    drawn = [first + i for i in range(len(captions))]
    images = generate(context.generator, context.encode(captions), drawn, batch_size=context.cfg.batch_size)
    if context.vocab:
        figures = _judged(context, captions, images)
    else:  # the retrieval encoder reads the frozen LM's vectors, whatever the generator was conditioned on
        frozen = np.asarray(context.encoder(adapted=False).encode(captions), dtype=np.float32)
        figures = _retrieved(context, frozen, images)
    return {"hard_prompts": len(captions), **figures}
