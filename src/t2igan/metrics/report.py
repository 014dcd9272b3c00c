"""The evaluation report: one markdown page a person reads before trusting a promotion.

It puts this model's figures beside the current champion's, shows what the generator draws for fixed
captions, where it confuses attributes (synthetic data), and whether its samples copy training images.
Images are files next to the page (samples.png, nearest.png), so the page renders in MLflow, on GitHub and
in any markdown viewer. Which figures are compared, and which way is better, comes from the metric registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from t2igan.markdown import table
from t2igan.metrics.figures import better, compared_figures


@dataclass(frozen=True)
class ChampionFigures:
    version: str
    run_id: str
    metrics: dict[str, float]


@dataclass
class ReportInputs:
    metrics: dict[str, Any]
    grid_captions: list[str]
    champion: ChampionFigures | None = None
    confusion: dict[str, dict[str, Any]] = field(default_factory=dict)
    nearest_distances: Sequence[float] = ()
    nearest_captions: Sequence[str] = ()


def flatten(metrics: dict[str, Any]) -> dict[str, float]:
    """Numeric figures as MLflow stores them (`attr_acc_heldout/color`); flags and strings left out."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update({f"{key}/{k}": float(v) for k, v in value.items() if isinstance(v, (int, float))})
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[key] = float(value)
    return flat


def _verdict(key: str, ours: float, theirs: float) -> str:
    if np.isclose(ours, theirs, rtol=1e-9, atol=1e-12):
        return "same"
    return "better" if better(key, ours, theirs) else "worse"


def comparison_table(metrics: dict[str, Any], champion: ChampionFigures | None) -> list[str]:
    ours = flatten(metrics)
    keys = compared_figures(ours)
    if champion is None:
        return table(
            [{"figure": key, "this model": f"{ours[key]:.4f}"} for key in keys], ["figure", "this model"]
        )
    theirs_column = f"champion (version {champion.version})"
    rows = []
    for key in keys:
        row = {"figure": key, "this model": f"{ours[key]:.4f}", theirs_column: "not measured", "change": ""}
        if key in champion.metrics:
            theirs = champion.metrics[key]
            change = f"{ours[key] - theirs:+.4f} ({_verdict(key, ours[key], theirs)})"
            row.update({theirs_column: f"{theirs:.4f}", "change": change})
        rows.append(row)
    return table(rows, ["figure", "this model", theirs_column, "change"])


def confusion_tables(confusion: dict[str, dict[str, Any]]) -> list[str]:
    """Rows: the attribute the caption asked for; columns: what the judge saw in the generated image."""
    lines: list[str] = []
    for name, counts in confusion.items():
        values = counts["values"]
        rows = [
            {"asked \\ drawn": f"**{value}**", **{v: str(c) for v, c in zip(values, row, strict=True)}}
            for value, row in zip(values, counts["counts"], strict=True)
        ]
        lines += [f"### {name}", "", *table(rows, ["asked \\ drawn", *values]), ""]
    return lines


def _memorization_section(report: ReportInputs) -> list[str]:
    rows = [
        {"sample": str(i + 1), "caption": caption, "RMS distance (0-255)": f"{distance:.1f}"}
        for i, (caption, distance) in enumerate(
            zip(report.nearest_captions, report.nearest_distances, strict=True)
        )
    ]
    lines = [
        "",
        "## Memorization check",
        "",
        "Each sample (left) beside its nearest training image (right, pixel distance at the training "
        "resolution).",
        "",
        "![nearest](nearest.png)",
        "",
        *table(rows, ["sample", "caption", "RMS distance (0-255)"]),
    ]
    if "memorization_ratio" in report.metrics:
        lines += [
            "",
            f"Median nearest-training distance of generated images / of real held-out images: "
            f"{report.metrics['memorization_ratio']:.3f} (well below 1 would mean copying).",
        ]
    return lines


def _notes(metrics: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    kid = metrics.get("kid_name")
    if kid:
        lines += ["", f"KID is the mean over random subsets; its std is {metrics[f'{kid}_std']:.5f}."]
    if "r_precision" in metrics:
        lines.append(
            f"R-precision {metrics['r_precision']:.3f} ± {metrics['r_precision_std']:.3f} "
            f"({metrics['r_precision_candidates']} candidates); on real held-out images (the ceiling) "
            f"{metrics['r_precision_ceiling']:.3f}."
        )
    return [*lines, "", f"Inception: `{metrics.get('inception', '?')}`.", ""]


def render(report: ReportInputs) -> str:
    metrics = report.metrics
    lines = ["# Evaluation", ""]
    if report.champion is None:
        lines += ["No champion in the registry yet: this model is compared with nothing.", ""]
    lines += comparison_table(metrics, report.champion)
    lines += _notes(metrics)
    lines += ["## Samples for fixed captions", "", "![samples](samples.png)", "", "Rows, top to bottom:", ""]
    lines += [f"{i + 1}. {caption}" for i, caption in enumerate(report.grid_captions)]
    if report.confusion:
        lines += [
            "",
            "## Attribute confusion on held-out combinations",
            "",
            *confusion_tables(report.confusion),
        ]
    if report.nearest_distances:
        lines += _memorization_section(report)
    return "\n".join(lines) + "\n"
