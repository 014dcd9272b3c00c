"""The registered metrics (t2igan.metrics.registry), in the order they are computed and reported.

Each takes the evaluation context and returns its figures; the work two metrics share (Inception features,
the judge's verdicts) is done once, by the context.
"""

from __future__ import annotations

from typing import Any

from t2igan.metrics.context import EvalContext
from t2igan.metrics.fid import frechet_distance
from t2igan.metrics.hard_prompts import hard_prompt_alignment
from t2igan.metrics.kid import kernel_inception_distance
from t2igan.metrics.registry import ALIGNMENT, Figure, register_metric
from t2igan.metrics.retrieval import retrieval_alignment, wanted

LOWER, HIGHER = True, False
COUNT = r"\d+k?"  # the sample count in a name: fid_1k, kid_500


@register_metric(
    "fid",
    Figure(f"fid_{COUNT}", LOWER, compared=True, summary=True, name_key="fid_name"),
)
def fid(context: EvalContext) -> dict[str, Any]:
    """Fréchet Inception Distance between generated and real test images (standard TF-Inception pool3)."""
    sample = context.distances
    return {
        "fid_name": sample.fid_name,
        sample.fid_name: frechet_distance(sample.real, sample.fake),
        "inception": context.network.identity,
        "real_features_cached": sample.real_cached,
        "generated_features_cached": sample.fake_cached,
    }


@register_metric(
    "kid",
    Figure(f"kid_{COUNT}", LOWER, compared=True, summary=True, name_key="kid_name"),
    Figure(f"kid_{COUNT}_std", LOWER, summary=True),
)
def kid(context: EvalContext) -> dict[str, Any]:
    """Kernel Inception Distance on the same features: unbiased, the better figure on small sets."""
    cfg, sample = context.cfg, context.distances
    mean, std = kernel_inception_distance(
        sample.real, sample.fake, cfg.kid_subsets, cfg.kid_subset_size, cfg.seed
    )
    return {"kid_name": sample.kid_name, sample.kid_name: mean, f"{sample.kid_name}_std": std}


@register_metric(
    "attributes",
    Figure(ALIGNMENT, HIGHER, compared=True, summary=True),
    Figure(r"attr_acc_heldout/\w+", HIGHER, compared=True),
    Figure(r"judge_ceiling_heldout/\w+", HIGHER, compared=True),
    Figure(r"(attr_acc|judge_ceiling)_seen/\w+", HIGHER),
)
def attributes(context: EvalContext) -> dict[str, Any]:
    """Per-attribute accuracy of generated images read by the judge (data with ground-truth attributes)."""
    reading = context.attributes
    if reading is None:
        return {}
    out = dict(reading.figures)
    if "attr_acc_heldout" in out:
        out[ALIGNMENT] = out["attr_acc_heldout"]["mean"]
    return out


@register_metric(
    "r_precision",
    Figure("r_precision", HIGHER, compared=True, summary=True),
    Figure("r_precision_std", LOWER),
    Figure("r_precision_ceiling", HIGHER),
    Figure("r_precision_candidates", HIGHER),  # the number of captions ranked: more is a harder test
)
def r_precision(context: EvalContext) -> dict[str, Any]:
    """Does a generated image retrieve its own caption among 99 others (data without attributes)."""
    return retrieval_alignment(context) if wanted(context) else {}


@register_metric(
    "hard_prompts",
    Figure("hard_prompts", HIGHER),  # how many were scored
    Figure("hard_prompts_alignment", HIGHER, summary=True),
    Figure("hard_prompts_similarity", HIGHER, summary=True),
    Figure("hard_prompts_similarity_test", HIGHER),
)
def hard_prompts(context: EvalContext) -> dict[str, Any]:
    """Alignment on the captions people voted "both bad" or thumbed down (data/hard_prompts.csv)."""
    return hard_prompt_alignment(context)


@register_metric(
    "memorization",
    Figure(r"nn_distance_(generated|real)", LOWER),
    Figure("memorization_ratio", HIGHER, compared=True),
)
def memorization(context: EvalContext) -> dict[str, Any]:
    """How close generated images sit to training images, against unseen real ones (well below 1: copying)."""
    check = context.memorization
    return dict(check.figures) if check is not None else {}
