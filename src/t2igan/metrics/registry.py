"""The metrics an evaluation computes, and what each figure means: the one place that knows.

In the shape of stylegan2-ada-pytorch's `metric_main.py`: every metric is a small function registered under
its name, taking the evaluation context and returning a dict of figures. With each metric the registry keeps
its figures' descriptions: which way is better, whether the report sets it beside the champion's, whether
the registry stores it on a model version for promotion to compare. Evaluate, the report, the promotion
policy and the flow's summary all read names and directions from here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from t2igan.metrics.context import EvalContext

MetricFn = Callable[["EvalContext"], dict[str, Any]]
ALIGNMENT = "alignment"  # the one text-alignment figure promotion compares, whichever metric measured it


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


@dataclass(frozen=True)
class Metric:
    name: str
    compute: MetricFn
    figures: tuple[Figure, ...]


_METRICS: dict[str, Metric] = {}


def register_metric(name: str, *figures: Figure) -> Callable[[MetricFn], MetricFn]:
    def register(compute: MetricFn) -> MetricFn:
        if name in _METRICS:
            raise ValueError(f"metric {name!r} registered twice")
        _METRICS[name] = Metric(name, compute, figures)
        return compute

    return register


def metrics() -> list[Metric]:
    """Every registered metric, in the order they are computed and reported."""
    import t2igan.metrics.catalog  # noqa: F401  (importing it registers the metrics)

    return list(_METRICS.values())


def figure(name: str) -> Figure:
    """The description of a figure by its name; KeyError for a name no metric reports."""
    for metric in metrics():
        for candidate in metric.figures:
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
    """Names whose figure is `wanted`, in registry order (metric, then figure), then the names' own order."""
    names = list(names)
    out: list[str] = []
    for metric in metrics():
        for candidate in metric.figures:
            if wanted(candidate):
                out += [n for n in names if candidate.matches(n) and n not in out]
    return out


def compared_figures(flat: Mapping[str, Any]) -> list[str]:
    """The figures of a (flattened) evaluation that the report sets beside the champion's."""
    return _ordered(flat, lambda f: f.compared)


def summary(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """The figures stored on a model version (and compared by promotion), with the entries naming them."""
    names = _ordered((k for k, v in evaluation.items() if _is_number(v)), lambda f: f.summary)
    keys = {f.name_key for m in metrics() for f in m.figures if f.summary and f.name_key in evaluation}
    return {key: evaluation[key] for key in [*sorted(k for k in keys if k), *names]}


def evaluate_all(context: EvalContext, chosen: Iterable[Metric] | None = None) -> dict[str, Any]:
    """Every registered metric (or the `chosen` ones) on one context, merged in order, plus the alignment.

    `alignment` is the attribute accuracy on held-out combinations where the data has attributes, else the
    R-precision: one figure a promotion can compare, whatever the dataset.
    """
    out: dict[str, Any] = {}
    for metric in metrics() if chosen is None else chosen:
        out.update(metric.compute(context))
    if ALIGNMENT not in out and "r_precision" in out:
        out[ALIGNMENT] = out["r_precision"]
    return out


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
