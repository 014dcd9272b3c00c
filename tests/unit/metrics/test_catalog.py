"""The registered metrics: one per declared set of figures, in order, and the alignment every evaluation has."""

from __future__ import annotations

from typing import Any, cast

import pytest

from t2igan.metrics import catalog
from t2igan.metrics.catalog import evaluate_all, metrics, register_metric
from t2igan.metrics.context import EvalContext
from t2igan.metrics.figures import FIGURES


def test_every_declared_metric_is_registered_once_in_the_declared_order() -> None:
    assert list(metrics()) == list(FIGURES)
    with pytest.raises(ValueError, match="registered twice"):
        register_metric("fid")(lambda context: {})
    with pytest.raises(ValueError, match="has no figures"):
        register_metric("sharpness")(lambda context: {})


def test_alignment_falls_back_to_r_precision_where_there_are_no_attributes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def returning(figures: dict[str, Any]) -> catalog.MetricFn:
        return lambda context: figures

    monkeypatch.setitem(catalog._METRICS, "r_precision", returning({"r_precision": 0.4}))
    monkeypatch.setitem(catalog._METRICS, "attributes", returning({"alignment": 0.9}))
    context = cast(EvalContext, object())
    assert evaluate_all(context, ["r_precision"])["alignment"] == 0.4
    assert (
        evaluate_all(context, ["attributes", "r_precision"])["alignment"] == 0.9
    )  # attributes, where there are
