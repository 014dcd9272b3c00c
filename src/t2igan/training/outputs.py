"""What a finished training run leaves for the later stages: the exported model and metrics/train.json.

artifacts/train/model/ holds the EMA generator (safetensors and its config), the encoder record its
embeddings came from, the language model's adaptation when it was trained (text_tuning/, recorded in the
generator's config as `text_tuning`), and run.json, the MLflow run that evaluate and register log to. It is
written next to the old one and swapped in whole.
"""

from __future__ import annotations

import shutil
from typing import Any

from t2igan.gan.export import save_generator
from t2igan.gan.generator import Generator
from t2igan.io import atomic_dir, read_json, write_json
from t2igan.paths import ProjectPaths
from t2igan.text.embeddings import ENCODER_FILE, read_encoder_record
from t2igan.text.tuning import TUNING_DIR
from t2igan.tracking import RunRef
from t2igan.training.loop import LoopOutcome
from t2igan.training.resume import Start
from t2igan.training.text_model import TrainableText


def export_model(
    ema: Generator,
    paths: ProjectPaths,
    run: RunRef,
    steps: int,
    dataset: str,
    text: TrainableText | None = None,
) -> None:
    with atomic_dir(paths.model_dir) as staging:
        encoder = read_encoder_record(paths.embeddings_dir)
        meta = {"steps": steps, "encoder": encoder, "dataset": dataset}
        if text is not None:
            meta["text_tuning"] = text.export(staging / TUNING_DIR)
        save_generator(ema, staging, meta)
        shutil.copy2(paths.embeddings_dir / ENCODER_FILE, staging / ENCODER_FILE)
        RunRef(run.run_id, run.experiment_id, run.tracking_uri).write(staging)


SUMMARY_FIELDS = ("steps", "resumed_from", "images_per_second", "processes", "init_from")


def write_summary(paths: ProjectPaths, steps: int, start: Start, outcome: LoopOutcome, processes: int) -> None:
    """metrics/train.json: how far the run went, from where, how fast, and its final losses."""
    write_json(
        paths.metrics("train"),
        {
            "steps": steps,
            "resumed_from": start.step,
            "images_per_second": round(outcome.images_per_second, 2),
            "processes": processes,
            "init_from": start.init_source,
            **outcome.final_losses,
        },
    )


def read_summary(paths: ProjectPaths) -> tuple[dict[str, Any], dict[str, float]]:
    """metrics/train.json as written above: (the run's bookkeeping, its final losses)."""
    summary = read_json(paths.metrics("train"))
    losses = {key: float(value) for key, value in summary.items() if key not in SUMMARY_FIELDS}
    return {key: summary[key] for key in SUMMARY_FIELDS if key in summary}, losses
