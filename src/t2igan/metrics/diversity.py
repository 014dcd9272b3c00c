"""Per-caption diversity: do a caption's seeds give different images, as different as real images of it are?

FID compares covariances, so a generator that ignores its noise (one image per caption, whatever the seed) is
punished there without anyone seeing why; on data where one caption fits many images (birds, products,
jittered shapes) it is the first thing a person notices. This measures it directly.

For M test captions (one per test image, a seeded sample) the generator draws K images each; a caption's
diversity is the mean pairwise distance between its K images. The scale is the same distance between real
images that fit the caption: where the data has ground-truth attributes, K real images with exactly the
caption's attributes (the renderer's own jitter of position, size and colour); elsewhere, K random real test
images (a scale reference: how far apart the data's images are). The figure is the ratio of the means: 0 for
a generator whose noise changes nothing, about 1 for one as varied as the real images of its captions.

Two spaces: Inception pool3 features (`diversity`, defined for any data, what the gate reads) and raw pixels
(`diversity_pixels`, the RMS difference of [0, 1] values: direct on small images). Seeds are
`evaluate.seed + DIVERSITY_IMAGES + i`, so two models are paired caption by caption and seed by seed, and the
per-caption ratios give the gate a paired interval (t2igan.registry.rescore).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from t2igan.data.splits import TEST
from t2igan.metrics import seeds
from t2igan.metrics.context import EvalContext
from t2igan.metrics.features import cache_key, cached_features
from t2igan.metrics.rows import batches, pick_rows

MIN_SEEDS = 2


@dataclass(frozen=True)
class DiversityReading:
    """Per caption, in each space: the mean pairwise distance of its generated images over the reference's."""

    inception: np.ndarray  # [M] per-caption generated distance / mean reference distance
    pixels: np.ndarray
    captions: int
    seeds: int
    reference: str  # "attributes" (real images with the caption's attributes) or "test images"

    @property
    def figures(self) -> dict[str, float | int | str]:
        return {
            "diversity": float(self.inception.mean()),
            "diversity_pixels": float(self.pixels.mean()),
            "diversity_captions": self.captions,
            "diversity_seeds": self.seeds,
            "diversity_reference": self.reference,
        }


def mean_pairwise_distance(vectors: np.ndarray) -> float:
    """Mean Euclidean distance over the K(K-1)/2 pairs of rows of [K, D] `vectors`."""
    count = len(vectors)
    if count < MIN_SEEDS:
        raise ValueError(f"pairwise distances need at least {MIN_SEEDS} vectors, got {count}")
    x = torch.as_tensor(np.asarray(vectors, dtype=np.float64))
    upper = torch.triu_indices(count, count, offset=1)
    return float(torch.cdist(x, x)[upper[0], upper[1]].mean())


def pixel_vectors(images: np.ndarray) -> np.ndarray:
    """uint8 [K, H, W, 3] images as [K, D] vectors: a distance is the RMS difference of [0, 1] values."""
    flat = images.reshape(len(images), -1).astype(np.float64) / 255.0
    return flat / np.sqrt(flat.shape[1])


def group_ratios(generated: list[np.ndarray], references: list[np.ndarray]) -> np.ndarray:
    """Per caption, its vectors' mean pairwise distance over the mean reference distance (one shared scale).

    `generated[i]` are caption i's K vectors (images embedded in one space), `references[i]` those of real
    images that fit it. The scale is the mean over captions of the reference distances, so two models
    measured on the same captions are compared on the same scale.
    """
    spread = np.array([mean_pairwise_distance(vectors) for vectors in generated])
    measured: dict[int, float] = {}  # a reference shared by every caption is measured once
    for vectors in references:
        if id(vectors) not in measured:
            measured[id(vectors)] = mean_pairwise_distance(vectors)
    scale = float(np.mean([measured[id(vectors)] for vectors in references]))
    return spread / scale if scale > 0 else np.zeros_like(spread)


def _captions_and_references(
    context: EvalContext, count: int, seed: int
) -> tuple[pd.DataFrame, list[np.ndarray], str]:
    """The test captions measured, the store indices of `count` real images fitting each, and how chosen.

    With attributes, only captions whose exact attributes at least two real images share are drawn (the
    reference needs a pair); elsewhere every caption shares one set of random test images as its scale.
    """
    rng = np.random.default_rng(seed)
    unique = context.manifest.drop_duplicates("store_index")
    test = context.split(TEST)
    if context.vocab:
        keys = unique["attributes"].map(_canonical)
        members = unique.groupby(keys)["store_index"].apply(np.asarray)
        fitting = test[test["attributes"].map(_canonical).map(lambda k: len(members.get(k, ())) >= MIN_SEEDS)]
        rows = pick_rows(fitting, context.cfg.diversity_captions, seed, one_per_image=True)
        if len(rows):
            groups = [
                rng.choice(members[key], size=min(count, len(members[key])), replace=False)
                for key in rows["attributes"].map(_canonical)
            ]
            return rows, groups, "attributes"
    rows = pick_rows(test, context.cfg.diversity_captions, seed, one_per_image=True)
    tested = test.drop_duplicates("store_index")["store_index"].to_numpy()
    shared = rng.choice(tested, size=min(count, len(tested)), replace=False)
    return rows, [shared] * len(rows), "test images"


def _canonical(attributes: str) -> str:
    return json.dumps(json.loads(attributes or "{}"), sort_keys=True)


def read_diversity(context: EvalContext) -> DiversityReading | None:
    """The generator's per-caption diversity on this evaluation's test captions (None when switched off).

    Inception features of both sides are cached like FID's: the generated side by weights, rows and seeds,
    the real side by data and rows, so a repeated evaluation runs no network.
    """
    cfg, network = context.cfg, context.network
    if cfg.diversity_captions == 0:
        return None
    base = cfg.seed + seeds.DIVERSITY_ROWS
    rows, groups, reference = _captions_and_references(context, cfg.diversity_seeds, base)
    repeated = rows.loc[np.repeat(rows.index.to_numpy(), cfg.diversity_seeds)]
    images = context.generate(repeated, cfg.seed + seeds.DIVERSITY_IMAGES)
    real_index = np.unique(np.concatenate(groups))
    real_images = context.store[real_index]
    generated_key = cache_key(
        kind="diversity-generated",
        generator=context.generator_sha,
        manifest=context.manifest_sha,
        rows=repeated.index.tolist(),
        seed=cfg.seed,
        network=network.identity,
    )
    real_key = cache_key(
        kind="diversity-real", manifest=context.manifest_sha, rows=real_index.tolist(), network=network.identity
    )
    generated, _ = cached_features(
        network,
        context.cache_path("inception", f"diversity-generated-{generated_key}.npy"),
        lambda: batches(images),
    )
    real, _ = cached_features(
        network, context.cache_path("inception", f"diversity-real-{real_key}.npy"), lambda: batches(real_images)
    )
    # rows of `real` per caption; one array per distinct group, so a shared reference is measured once
    keys = [np.searchsorted(real_index, np.sort(group)).tobytes() for group in groups]
    positions = {key: np.frombuffer(key, dtype=np.int64) for key in keys}
    real_inception = {key: real[rows_of] for key, rows_of in positions.items()}
    real_pixels = {key: pixel_vectors(real_images[rows_of]) for key, rows_of in positions.items()}
    parts = len(rows)
    return DiversityReading(
        inception=group_ratios(np.split(generated, parts), [real_inception[key] for key in keys]),
        pixels=group_ratios(
            [pixel_vectors(part) for part in np.split(images, parts)], [real_pixels[key] for key in keys]
        ),
        captions=parts,
        seeds=cfg.diversity_seeds,
        reference=reference,
    )


def diversity_reading(context: EvalContext) -> DiversityReading | None:
    """Computed once per evaluation (the report and the champion's re-scoring read the same)."""
    return context.shared("diversity", lambda: read_diversity(context))
