"""What each figure means: its direction, what the report compares, what a version stores."""

from __future__ import annotations

import pytest

from t2igan.metrics.figures import (
    FIGURES,
    better,
    compared_figures,
    figure,
    is_figure,
    lower_is_better,
    summary,
)

EVALUATION = {
    "fid_name": "fid_1k",
    "fid_1k": 150.0,
    "kid_name": "kid_1k",
    "kid_1k": 0.1,
    "kid_1k_std": 0.002,
    "alignment": 0.8,
    "attr_acc_heldout": {"color": 0.9, "mean": 0.8},
    "nn_distance_generated": 40.0,
    "memorization_ratio": 1.04,
    "inception": "default_1.pt:sha256=...",
    "eval_seconds": 12.0,
}


def test_every_metric_declares_its_figures_in_computing_order() -> None:
    assert list(FIGURES) == [
        "fid",
        "kid",
        "attributes",
        "r_precision",
        "feature_networks",
        "diversity",
        "hard_prompts",
        "memorization",
    ]
    assert all(FIGURES.values())


def test_directions_come_from_the_figure_names() -> None:
    assert lower_is_better("fid_1k") and lower_is_better("fid_500") and lower_is_better("kid_24_std")
    assert lower_is_better("nn_distance_generated")
    assert not lower_is_better("alignment") and not lower_is_better("attr_acc_heldout/shape")
    assert not lower_is_better("r_precision") and not lower_is_better("memorization_ratio")
    assert not lower_is_better("diversity") and not lower_is_better("diversity_pixels")
    assert lower_is_better("fd_dinov2") and not lower_is_better("clip_score_clip")
    assert better("fid_1k", 140.0, 150.0) and better("alignment", 0.9, 0.8) and not better("fid_1k", 151, 150)
    assert not is_figure("fid_name") and not is_figure("eval_seconds")  # labels and timings are no figures
    with pytest.raises(KeyError):
        figure("inception")


def test_the_report_compares_headline_figures_in_registry_order() -> None:
    flat = {"attr_acc_heldout/color": 0.9, "memorization_ratio": 1.0, "kid_1k": 0.1, "fid_1k": 150.0}
    flat |= {"alignment": 0.8, "attr_acc_seen/color": 0.95, "kid_1k_std": 0.01}
    assert compared_figures(flat) == [
        "fid_1k",
        "kid_1k",
        "alignment",
        "attr_acc_heldout/color",
        "memorization_ratio",
    ]


def test_a_version_stores_the_summary_figures_and_the_names_of_its_headline_ones() -> None:
    assert summary(EVALUATION) == {
        "fid_name": "fid_1k",
        "kid_name": "kid_1k",
        "fid_1k": 150.0,
        "kid_1k": 0.1,
        "kid_1k_std": 0.002,
        "alignment": 0.8,
    }
