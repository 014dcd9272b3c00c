"""Evaluate: every registered metric of the EMA generator (t2igan.metrics.catalog) and the report.

FID and KID against real test images, text alignment (attribute accuracy read by a judge on synthetic data,
R-precision elsewhere), memorization. Outputs: metrics/eval.json (DVC metrics) and artifacts/evaluate/
(report.md with samples.png and nearest.png); all of it is logged to the training run in MLflow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from t2igan.config import Params
from t2igan.io import write_json
from t2igan.metrics.evaluation import evaluate, summary_line, write_evaluation
from t2igan.metrics.report import flatten
from t2igan.paths import ProjectPaths
from t2igan.registry.aliases import champion_figures
from t2igan.tracking import continue_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalResult:
    metrics: dict[str, Any]


def run(params: Params, paths: ProjectPaths) -> EvalResult:
    import mlflow

    evaluation = evaluate(params, paths, champion_figures(params, paths))
    write_evaluation(paths.eval_dir, evaluation)
    write_json(paths.metrics("eval"), evaluation.metrics)
    with continue_run(paths, params.tracking.experiment, "evaluate"):
        mlflow.log_metrics(flatten(evaluation.metrics))
        mlflow.log_artifacts(str(paths.eval_dir), "evaluation")
        mlflow.log_dict(evaluation.metrics, "evaluation/eval.json")
        # Params are immutable in a run and evaluation may be repeated with other settings: log them as a file.
        mlflow.log_dict(params.evaluate.model_dump(mode="json"), "evaluation/params.json")
    log.info("%s", summary_line(evaluation.metrics))
    return EvalResult(evaluation.metrics)
