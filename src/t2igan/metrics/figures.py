"""What each figure an evaluation reports means: the one place that knows.

For every metric (computed in `t2igan.metrics.catalog`, in this order), the figures it reports: which way is
better, whether the report sets it beside the champion's, whether the registry stores it on a model version
for promotion to compare. Evaluate, the report, the promotion policy and the flow's summary all read names
and directions from here. It is apart from the metrics themselves, so the promotion policy and the flow's
summary read it without importing what the metrics compute with.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ALIGNMENT = "alignment"  # the one text-alignment figure promotion compares, whichever metric measured it
DIVERSITY = "diversity"  # per-caption diversity in Inception space, which promotion compares
LOWER, HIGHER = True, False
FD_PREFIX, CLIP_SCORE_PREFIX = "fd_", "clip_score_"  # evaluate.feature_networks' figures: fd_<name>, ...
BEYOND_INCEPTION = (FD_PREFIX, CLIP_SCORE_PREFIX)
COUNT = r"\d+k?"  # the sample count in a name: fid_1k, kid_500


@dataclass(frozen=True)
class Figure:
    """A figure a metric reports, matched by its (flattened) name: `fid_1k`, `attr_acc_heldout/shape`."""

    pattern: str  # a regular expression for the whole name
    lower_is_better: bool
    compared: bool = False  # in the report, beside the champion's
    summary: bool = False  # stored on each model version (promotion compares these)
    name_key: str | None = None  # the entry that names this figure in an evaluation (`fid_name`: fid_1k)

    def matches(self, name: str) -> bool:
        return re.fullmatch(self.pattern, name) is not None


# Each metric's figures, by the metric's name, in the order the metrics are computed and reported.
FIGURES: dict[str, tuple[Figure, ...]] = {
    "fid": (Figure(f"fid_{COUNT}", LOWER, compared=True, summary=True, name_key="fid_name"),),
    "kid": (
        Figure(f"kid_{COUNT}", LOWER, compared=True, summary=True, name_key="kid_name"),
        Figure(f"kid_{COUNT}_std", LOWER, summary=True),
    ),
    "attributes": (
        Figure(ALIGNMENT, HIGHER, compared=True, summary=True),
        Figure(r"attr_acc_heldout/\w+", HIGHER, compared=True),
        Figure(r"judge_ceiling_heldout/\w+", HIGHER, compared=True),
        Figure(r"(attr_acc|judge_ceiling)_seen/\w+", HIGHER),
    ),
    "r_precision": (
        Figure("r_precision", HIGHER, compared=True, summary=True),
        Figure("r_precision_std", LOWER),
        Figure("r_precision_ceiling", HIGHER),
        Figure("r_precision_candidates", HIGHER),  # the number of captions ranked: more is a harder test
    ),
    "feature_networks": (
        Figure(rf"{FD_PREFIX}\w+", LOWER, compared=True, summary=True),
        Figure(rf"{CLIP_SCORE_PREFIX}\w+", HIGHER, compared=True, summary=True),
    ),
    "diversity": (
        Figure(DIVERSITY, HIGHER, compared=True, summary=True),  # Inception space: what the gate reads
        Figure("diversity_pixels", HIGHER, compared=True, summary=True),
        Figure("diversity_(captions|seeds)", HIGHER),
    ),
    "hard_prompts": (
        Figure("hard_prompts", HIGHER),  # how many were scored
        Figure("hard_prompts_alignment", HIGHER, summary=True),
        Figure("hard_prompts_similarity", HIGHER, summary=True),
        Figure("hard_prompts_similarity_test", HIGHER),
    ),
    "memorization": (
        Figure(r"nn_distance_(generated|real)", LOWER),
        Figure("memorization_ratio", HIGHER, compared=True),
    ),
}


def _all() -> Iterable[Figure]:
    return (candidate for figures in FIGURES.values() for candidate in figures)


def figure(name: str) -> Figure:
    """The description of a figure by its name; KeyError for a name no metric reports."""
    for candidate in _all():
        if candidate.matches(name):
            return candidate
    raise KeyError(name)


def lower_is_better(name: str) -> bool:
    return figure(name).lower_is_better


def is_figure(name: str) -> bool:
    try:
        figure(name)
    except KeyError:
        return False
    return True


def better(name: str, ours: float, theirs: float) -> bool:
    """Whether `ours` is the better value of figure `name`."""
    return ours < theirs if lower_is_better(name) else ours > theirs


def _ordered(names: Iterable[str], wanted: Callable[[Figure], bool]) -> list[str]:
    """Names whose figure is `wanted`, in table order (metric, then figure), then the names' own order."""
    names = list(names)
    out: list[str] = []
    for candidate in _all():
        if wanted(candidate):
            out += [n for n in names if candidate.matches(n) and n not in out]
    return out


def compared_figures(flat: Mapping[str, Any]) -> list[str]:
    """The figures of a (flattened) evaluation that the report sets beside the champion's."""
    return _ordered(flat, lambda f: f.compared)


def summary(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """The figures stored on a model version (and compared by promotion), with the entries naming them."""
    names = _ordered((k for k, v in evaluation.items() if _is_number(v)), lambda f: f.summary)
    keys = {f.name_key for f in _all() if f.summary and f.name_key in evaluation}
    return {key: evaluation[key] for key in [*sorted(k for k in keys if k), *names]}


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
