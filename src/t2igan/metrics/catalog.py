"""The metrics an evaluation computes, registered by name, in the order they are computed and reported.

In the shape of stylegan2-ada-pytorch's `metric_main.py`: every metric is a small function registered under
its name, taking the evaluation context and returning a dict of figures. What each figure means (its
direction, whether it is compared and stored) is declared under the same name in `t2igan.metrics.figures`;
a metric registered without figures there fails at import. The work two metrics share (Inception features,
the judge's verdicts) is computed once per context by the module that owns it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from t2igan.metrics.alignment import attribute_reading
from t2igan.metrics.clip_score import clip_score, is_clip
from t2igan.metrics.context import EvalContext
from t2igan.metrics.distances import distances
from t2igan.metrics.diversity import diversity_reading
from t2igan.metrics.feature_networks import feature_pair
from t2igan.metrics.fid import frechet_distance
from t2igan.metrics.figures import ALIGNMENT, CLIP_SCORE_PREFIX, FIGURES
from t2igan.metrics.hard_prompt_alignment import hard_prompt_alignment
from t2igan.metrics.kid import kernel_inception_distance
from t2igan.metrics.memorization import memorization_check
from t2igan.metrics.retrieval import retrieval_alignment, wanted

MetricFn = Callable[[EvalContext], dict[str, Any]]
_METRICS: dict[str, MetricFn] = {}


def register_metric(name: str) -> Callable[[MetricFn], MetricFn]:
    def register(compute: MetricFn) -> MetricFn:
        if name in _METRICS:
            raise ValueError(f"metric {name!r} registered twice")
        if name not in FIGURES:
            raise ValueError(f"metric {name!r} has no figures in t2igan.metrics.figures.FIGURES")
        _METRICS[name] = compute
        return compute

    return register


def metrics() -> dict[str, MetricFn]:
    """Every registered metric by name, in the order they are computed and reported."""
    return dict(_METRICS)


def evaluate_all(context: EvalContext, chosen: Iterable[str] | None = None) -> dict[str, Any]:
    """Every registered metric (or the `chosen` ones, by name) on one context, merged in order, plus the
    alignment.

    `alignment` is the attribute accuracy on held-out combinations where the data has attributes, else the
    R-precision: one figure a promotion can compare, whatever the dataset.
    """
    out: dict[str, Any] = {}
    for name in _METRICS if chosen is None else chosen:
        out.update(_METRICS[name](context))
    if ALIGNMENT not in out and "r_precision" in out:
        out[ALIGNMENT] = out["r_precision"]
    return out


@register_metric("fid")
def fid(context: EvalContext) -> dict[str, Any]:
    """Fréchet Inception Distance between generated and real test images (standard TF-Inception pool3)."""
    sample = distances(context)
    return {
        "fid_name": sample.fid_name,
        sample.fid_name: frechet_distance(sample.real, sample.fake),
        "inception": context.network.identity,
        "real_features_cached": sample.real_cached,
        "generated_features_cached": sample.fake_cached,
    }


@register_metric("kid")
def kid(context: EvalContext) -> dict[str, Any]:
    """Kernel Inception Distance on the same features: unbiased, the better figure on small sets."""
    cfg, sample = context.cfg, distances(context)
    mean, std = kernel_inception_distance(
        sample.real, sample.fake, cfg.kid_subsets, cfg.kid_subset_size, cfg.seed
    )
    return {"kid_name": sample.kid_name, sample.kid_name: mean, f"{sample.kid_name}_std": std}


@register_metric("attributes")
def attributes(context: EvalContext) -> dict[str, Any]:
    """Per-attribute accuracy of generated images read by the judge (data with ground-truth attributes)."""
    reading = attribute_reading(context)
    if reading is None:
        return {}
    out = dict(reading.figures)
    if "attr_acc_heldout" in out:
        out[ALIGNMENT] = out["attr_acc_heldout"]["mean"]
    return out


@register_metric("r_precision")
def r_precision(context: EvalContext) -> dict[str, Any]:
    """Does a generated image retrieve its own caption among 99 others (data without attributes)."""
    return retrieval_alignment(context) if wanted(context) else {}


@register_metric("feature_networks")
def feature_networks(context: EvalContext) -> dict[str, Any]:
    """Fréchet distances on the same images in other networks' spaces (`evaluate.feature_networks`)."""
    out: dict[str, Any] = {}
    for name, source in context.cfg.feature_networks.items():
        pair = feature_pair(context, name)
        out[pair.name] = frechet_distance(pair.real, pair.fake)
        setting = f"evaluate.feature_networks.{name}"
        if is_clip(source, setting):  # both towers: the images against their captions too
            sample = distances(context)
            images, captions = sample.fake_images, list(sample.captions)
            out[f"{CLIP_SCORE_PREFIX}{name}"] = clip_score(source, setting, images, captions, context.device)
    return out


@register_metric("diversity")
def diversity(context: EvalContext) -> dict[str, Any]:
    """Per-caption diversity: K seeds of M captions, as far apart as real images of it (1) or not at all (0)."""
    reading = diversity_reading(context)
    return dict(reading.figures) if reading is not None else {}


@register_metric("hard_prompts")
def hard_prompts(context: EvalContext) -> dict[str, Any]:
    """Alignment on the captions people voted "both bad" or thumbed down (data/hard_prompts.csv)."""
    return hard_prompt_alignment(context)


@register_metric("memorization")
def memorization(context: EvalContext) -> dict[str, Any]:
    """How close generated images sit to training images, against unseen real ones (well below 1: copying)."""
    check = memorization_check(context)
    return dict(check.figures) if check is not None else {}
