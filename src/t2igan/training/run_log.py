"""A training run in MLflow: the run opened (or continued on resume), what it records, its loss table.

A new run records its params, dataset tags, the fine-tuning source, the resolved config and the captions of
its sample grid before the first step; during the run, losses and learning rates every `log_every` steps and
a sample grid every `sample_every`. After it, metrics/train_log.csv is written from the run's metric history,
the one record of the losses whatever resumed when.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from t2igan.config import Params
from t2igan.data.dataset import DatasetInfo
from t2igan.data.fixed_captions import grid_rows
from t2igan.gan.conditioning import CaptionFeatures, cached_caption_features
from t2igan.gan.generator import Generator
from t2igan.gan.sampling import generate, image_grid
from t2igan.io import atomic_path, read_json, sha256_file, write_json
from t2igan.paths import ProjectPaths
from t2igan.text.embeddings import Embeddings, TokenStates
from t2igan.tracking import RunRef, configure, start_run
from t2igan.training.resume import Start

log = logging.getLogger(__name__)

SAMPLE_SEEDS = 4
SAMPLE_CAPTIONS = 8
ACTIVE_RUN_FILE = "run.json"  # in the checkpoints directory: the MLflow run its checkpoints belong to
LOSS_LOG_KEYS = ("loss_d", "loss_g", "ma_gp", "images_per_second")


@dataclass(frozen=True)
class SampleGrid:
    """Fixed captions (half seen, half held-out combinations) x fixed seeds: the run's picture over time."""

    captions: list[str]
    text: CaptionFeatures  # their embeddings (and token states, for word attention)
    rows: np.ndarray | None = None  # their manifest rows
    conditioning: Callable[[np.ndarray], np.ndarray] | None = None  # rows -> vectors from the adapted LM

    @classmethod
    def fixed(
        cls,
        paths: ProjectPaths,
        embeddings: Embeddings,
        conditioning: Callable[[np.ndarray], np.ndarray] | None = None,
        tokens: TokenStates | None = None,
    ) -> SampleGrid:
        """`conditioning`: the adapted LM's vectors, as it is when the grid is drawn (else the cached ones);
        `tokens`: the captions' token states, for a generator with word attention."""
        captions, rows = grid_rows(paths, SAMPLE_CAPTIONS)
        features = cached_caption_features(embeddings.vectors, rows, tokens)
        return cls(captions, features, np.asarray(rows), conditioning)

    def render(self, generator: Generator) -> Any:
        text = self.text
        if self.conditioning is not None and self.rows is not None:
            text = CaptionFeatures(self.conditioning(self.rows), text.tokens, text.lengths)
        seeds = [s for _ in range(len(text)) for s in range(SAMPLE_SEEDS)]
        images = generate(generator, text.repeat(SAMPLE_SEEDS), seeds)
        return image_grid(images, columns=SAMPLE_SEEDS * 2)


class MlflowRunLog:
    """Rank 0's record of the run in progress (the active MLflow run)."""

    def __init__(self, grid: SampleGrid, ema: Generator) -> None:
        self.grid = grid
        self.ema = ema

    def metrics(self, step: int, values: dict[str, float]) -> None:
        import mlflow

        mlflow.log_metrics(values, step=step)

    def samples(self, step: int) -> None:
        import mlflow

        # by key and step: the run's Artifacts tab shows a step slider over the grids
        mlflow.log_image(self.grid.render(self.ema), key="samples", step=step)


def flatten(prefix: str, value: Any) -> dict[str, Any]:
    """Nested params as MLflow's flat keys (`train.model.nf`)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(f"{prefix}.{key}" if prefix else str(key), item))
        return out
    return {prefix: value}


def _existing_run(paths: ProjectPaths, run_id: str | None) -> str | None:
    import mlflow

    if run_id is None:
        return None
    configure(paths)
    try:
        mlflow.MlflowClient().get_run(run_id)
        return run_id
    except mlflow.exceptions.MlflowException:
        log.warning("run %s of the checkpoint is not in the tracking store; logging to a new run", run_id)
        return None


def _end_abandoned_run(paths: ProjectPaths, keep: str | None) -> None:
    """Mark KILLED the run an earlier start left RUNNING that this start does not continue."""
    import mlflow

    marker = paths.checkpoints_dir / ACTIVE_RUN_FILE
    if not marker.is_file():
        return
    abandoned = read_json(marker).get("run_id")
    if not abandoned or abandoned == keep:
        return
    configure(paths)
    client = mlflow.MlflowClient()
    try:
        if client.get_run(abandoned).info.status != "RUNNING":
            return
        client.set_tag(
            abandoned, "t2igan.ended", "stopped before a checkpoint it could resume from; not resumed"
        )
        client.set_terminated(abandoned, status="KILLED")
    except mlflow.exceptions.MlflowException:
        return  # a store that no longer holds it
    log.warning("run %s stopped before a checkpoint it could resume from: marked KILLED", abandoned)


def _record_new_run(
    params: Params, paths: ProjectPaths, info: DatasetInfo, start: Start, grid: SampleGrid
) -> None:
    import mlflow

    mlflow.log_params(flatten("", params.model_dump(include={"data", "embed", "train"})))
    mlflow.set_tags({"dataset": info.name, "dataset.rows": info.rows, "stage": "train"})
    if start.initial is not None:
        mlflow.set_tags({"init_from": start.initial.requested, "init_from.resolved": start.initial.resolved})
    mlflow.log_dict(params.model_dump(mode="json"), "config/params.json")
    mlflow.log_dict({"captions": grid.captions}, "samples/captions.json")
    if paths.validation_report.is_file():
        mlflow.log_artifact(str(paths.validation_report), "validation")
    log_datasets(paths, info)


def log_datasets(paths: ProjectPaths, info: DatasetInfo) -> None:
    """The training and test rows as MLflow dataset inputs (name, digest, source, schema on the run).

    Described, not loaded: the digest is the clean manifest's sha256 with the split, the schema its columns,
    so logging them costs the same for a thousand rows or a hundred million (MLflow's `from_pandas` would
    hold and hash every row in memory).
    """
    import mlflow
    import pyarrow.parquet as pq
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.types import ColSpec, Schema

    from t2igan.data.manifest import read_clean_manifest
    from t2igan.data.splits import TEST, TRAIN

    class SplitRows(MetaDataset):
        """The rows of one split, described by digest, schema and count (MLflow's profile)."""

        def __init__(self, rows: int, **described: Any) -> None:
            super().__init__(**described)
            self.rows = rows

        @property
        def profile(self) -> dict[str, int]:
            return {"num_rows": self.rows}

    manifest = sha256_file(paths.clean_manifest)
    counts = read_clean_manifest(paths, columns=("split",))["split"].value_counts()
    names = pq.read_schema(paths.clean_manifest).names
    schema = Schema([ColSpec("string", c) for c in ("id", "caption", "split", "sha256") if c in names])
    with warnings.catch_warnings():  # MLflow registers its local-file source class twice and says so
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted", UserWarning)
        source = resolve_dataset_source(str(paths.clean_manifest))
    for split, context in ((TRAIN, "training"), (TEST, "testing")):
        digest = hashlib.sha256(f"{manifest}:{split}".encode()).hexdigest()[:16]
        rows = int(counts.get(split, 0))
        dataset = SplitRows(rows, source=source, name=f"{info.name}-{split}", digest=digest, schema=schema)
        mlflow.log_input(dataset, context=context)


@contextlib.contextmanager
def training_run(
    params: Params, paths: ProjectPaths, info: DatasetInfo, start: Start, grid: SampleGrid
) -> Iterator[RunRef]:
    """The run's MLflow run for the block: the resumed checkpoint's, or a new one, recorded as above.

    The run being written is named in checkpoints/run.json from its start: a run killed before its first
    checkpoint cannot be resumed, and the next start marks it KILLED instead of leaving it RUNNING forever.
    """
    run_id = _existing_run(paths, start.run_id)
    _end_abandoned_run(paths, keep=run_id)
    with start_run(
        paths,
        params.tracking.experiment,
        run_id=run_id,
        run_name=f"{info.name}-gan",
        system_metrics=params.tracking.system_metrics,
    ) as ref:
        write_json(paths.checkpoints_dir / ACTIVE_RUN_FILE, {"run_id": ref.run_id})
        if run_id is None:
            _record_new_run(params, paths, info, start, grid)
        yield ref


def write_loss_log(paths: ProjectPaths, run_id: str) -> None:
    """metrics/train_log.csv (for `dvc plots show`) from the run's metric history."""
    import mlflow

    client = mlflow.MlflowClient()
    table: dict[int, dict[str, float]] = {}
    for key in LOSS_LOG_KEYS:
        for metric in client.get_metric_history(run_id, key):
            table.setdefault(metric.step, {})[key] = metric.value
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["step", *LOSS_LOG_KEYS])
    for step in sorted(table):
        writer.writerow([step, *(f"{table[step][k]:.6g}" if k in table[step] else "" for k in LOSS_LOG_KEYS)])
    with atomic_path(paths.metrics_dir / "train_log.csv") as tmp:
        tmp.write_text(buffer.getvalue())
