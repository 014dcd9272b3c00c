"""One evaluation of the trained generator: every registered metric, the report and its pictures.

Deterministic: captions and seeds are fixed by `evaluate.seed`, so two evaluations of one checkpoint give the
same numbers. What depends only on the data (real-image features, the judge, the retrieval encoder) is cached
by fingerprint, so evaluating another checkpoint recomputes only the generated side.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from t2igan.config import Params
from t2igan.gan.sampling import image_grid
from t2igan.io import atomic_dir, write_json, write_text
from t2igan.metrics.alignment import attribute_reading
from t2igan.metrics.catalog import evaluate_all
from t2igan.metrics.context import EvalContext
from t2igan.metrics.grid import sample_grid
from t2igan.metrics.memorization import memorization_check
from t2igan.metrics.report import ChampionFigures, ReportInputs, render
from t2igan.paths import ProjectPaths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, Any]
    report: ReportInputs
    pictures: dict[str, Image.Image]  # by file name, next to report.md
    grid_seeds: int


def evaluate(params: Params, paths: ProjectPaths, champion: ChampionFigures | None) -> Evaluation:
    """Compute every figure and assemble the report (`champion`: the figures to set beside ours)."""
    context = EvalContext(params, paths)
    started = time.perf_counter()
    metrics = evaluate_all(context)
    grid, memorization = sample_grid(context), memorization_check(context)
    metrics["eval_seconds"] = round(time.perf_counter() - started, 2)
    pictures = {"samples.png": image_grid(grid.images, columns=grid.seeds)}
    report = ReportInputs(metrics=metrics, grid_captions=grid.captions, champion=champion)
    reading = attribute_reading(context)
    if reading is not None:
        report.confusion = reading.confusion
    if memorization is not None and memorization.picture is not None:
        pictures["nearest.png"] = Image.fromarray(memorization.picture)
        report.nearest_distances, report.nearest_captions = memorization.distances, memorization.captions
    return Evaluation(metrics, report, pictures, grid.seeds)


def write_evaluation(directory: Path, evaluation: Evaluation) -> None:
    """report.md with its pictures, confusion.json and captions.json, swapped in as one directory."""
    with atomic_dir(directory) as staging:
        for name, picture in evaluation.pictures.items():
            picture.save(staging / name)
        write_text(staging / "report.md", render(evaluation.report))
        write_json(staging / "confusion.json", evaluation.report.confusion)
        captions = {"captions": evaluation.report.grid_captions, "seeds_per_caption": evaluation.grid_seeds}
        write_json(staging / "captions.json", captions)


def summary_line(metrics: dict[str, Any]) -> str:
    fid_name, kid_name = metrics["fid_name"], metrics["kid_name"]
    alignment = f", alignment = {metrics['alignment']:.3f}" if "alignment" in metrics else ""
    kid = f"{metrics[kid_name]:.4f} ± {metrics[f'{kid_name}_std']:.4f}"
    return f"{fid_name} = {metrics[fid_name]:.3f}, {kid_name} = {kid}{alignment}"
