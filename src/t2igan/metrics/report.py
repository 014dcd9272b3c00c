"""The evaluation report: one markdown page a person reads before trusting a promotion.

It puts this model's figures beside the current champion's, shows what the generator draws for fixed
captions, where it confuses attributes (synthetic data), and whether its samples copy training images.
Images are files next to the page (samples.png, nearest.png), so the page renders in MLflow, on GitHub and
in any markdown viewer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Lower is better for these; every other compared figure is better higher.
LOWER_IS_BETTER = ("fid_", "kid_", "nn_distance")


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


def _compared_keys(metrics: dict[str, Any], flat: dict[str, float]) -> list[str]:
    keys = [metrics["fid_name"], metrics.get("kid_name", ""), "alignment", "r_precision", "memorization_ratio"]
    keys += [f"attr_acc_heldout/{name}" for name in metrics.get("attr_acc_heldout", {})]
    keys += [f"judge_ceiling_heldout/{name}" for name in metrics.get("judge_ceiling_heldout", {})]
    return [key for key in keys if key in flat]


def _verdict(key: str, ours: float, theirs: float) -> str:
    if np.isclose(ours, theirs, rtol=1e-9, atol=1e-12):
        return "same"
    lower_better = key.startswith(LOWER_IS_BETTER)
    return "better" if (ours < theirs) == lower_better else "worse"


def comparison_table(metrics: dict[str, Any], champion: ChampionFigures | None) -> list[str]:
    ours = flatten(metrics)
    keys = _compared_keys(metrics, ours)
    if champion is None:
        lines = ["| figure | this model |", "|---|---|"]
        return lines + [f"| {key} | {ours[key]:.4f} |" for key in keys]
    lines = [
        f"| figure | this model | champion (version {champion.version}) | change |",
        "|---|---|---|---|",
    ]
    for key in keys:
        if key in champion.metrics:
            theirs = champion.metrics[key]
            lines.append(
                f"| {key} | {ours[key]:.4f} | {theirs:.4f} | {ours[key] - theirs:+.4f} "
                f"({_verdict(key, ours[key], theirs)}) |"
            )
        else:
            lines.append(f"| {key} | {ours[key]:.4f} | not measured | |")
    return lines


def confusion_tables(confusion: dict[str, dict[str, Any]]) -> list[str]:
    """Rows: the attribute the caption asked for; columns: what the judge saw in the generated image."""
    lines: list[str] = []
    for name, table in confusion.items():
        values, counts = table["values"], table["counts"]
        lines += [f"### {name}", "", "| asked \\ drawn | " + " | ".join(values) + " |"]
        lines.append("|---" * (len(values) + 1) + "|")
        for value, row in zip(values, counts, strict=True):
            lines.append(f"| **{value}** | " + " | ".join(str(c) for c in row) + " |")
        lines.append("")
    return lines


def render(report: ReportInputs) -> str:
    metrics = report.metrics
    lines = ["# Evaluation", ""]
    if report.champion is None:
        lines += ["No champion in the registry yet: this model is compared with nothing.", ""]
    lines += comparison_table(metrics, report.champion)
    kid = metrics.get("kid_name")
    if kid:
        lines += ["", f"KID is the mean over random subsets; its std is {metrics[f'{kid}_std']:.5f}."]
    if "r_precision" in metrics:
        lines.append(
            f"R-precision {metrics['r_precision']:.3f} ± {metrics['r_precision_std']:.3f} "
            f"({metrics['r_precision_candidates']} candidates); on real held-out images (the ceiling) "
            f"{metrics['r_precision_ceiling']:.3f}."
        )
    lines += ["", f"Inception: `{metrics.get('inception', '?')}`.", ""]

    lines += ["## Samples for fixed captions", "", "![samples](samples.png)", "", "Rows, top to bottom:", ""]
    lines += [f"{i + 1}. {caption}" for i, caption in enumerate(report.grid_captions)]

    if report.confusion:
        lines += ["", "## Attribute confusion on held-out combinations", ""]
        lines += confusion_tables(report.confusion)

    if report.nearest_distances:
        lines += [
            "",
            "## Memorization check",
            "",
            "Each sample (left) beside its nearest training image (right, pixel distance at the training "
            "resolution).",
            "",
            "![nearest](nearest.png)",
            "",
            "| sample | caption | RMS distance (0-255) |",
            "|---|---|---|",
        ]
        for i, (caption, distance) in enumerate(
            zip(report.nearest_captions, report.nearest_distances, strict=True)
        ):
            lines.append(f"| {i + 1} | {caption} | {distance:.1f} |")
        if "memorization_ratio" in metrics:
            lines += [
                "",
                f"Median nearest-training distance of generated images / of real held-out images: "
                f"{metrics['memorization_ratio']:.3f} (well below 1 would mean copying).",
            ]
    return "\n".join(lines) + "\n"
