"""Where each stage reads and writes, relative to the project root.

`dvc.yaml` names the same paths (a test keeps the two in step); stages receive a `ProjectPaths` so that tests
can run them in a temporary project. Each path is one field below, placed by its `at` (relative to the root).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from t2igan.env import CACHE_DIR_ENV


@dataclass(frozen=True)
class ProjectPaths:
    root: Path
    # scan
    source_fingerprint: Path = field(init=False, repr=False, metadata={"at": "data/source.json"})
    # ingest
    ingest_dir: Path = field(init=False, repr=False, metadata={"at": "data/ingest"})
    manifest: Path = field(init=False, repr=False, metadata={"at": "data/ingest/manifest.parquet"})
    dataset_info: Path = field(init=False, repr=False, metadata={"at": "data/ingest/dataset.json"})
    # validate
    clean_dir: Path = field(init=False, repr=False, metadata={"at": "data/clean"})
    clean_manifest: Path = field(init=False, repr=False, metadata={"at": "data/clean/manifest.parquet"})
    rejected: Path = field(init=False, repr=False, metadata={"at": "data/clean/rejected.parquet"})
    image_store: Path = field(init=False, repr=False, metadata={"at": "data/clean/images.npy"})
    image_shards: Path = field(init=False, repr=False, metadata={"at": "data/clean/images"})
    validation_report: Path = field(init=False, repr=False, metadata={"at": "data/clean/report.md"})
    # embed
    embeddings_dir: Path = field(init=False, repr=False, metadata={"at": "data/embeddings"})
    # prompts (the captions people disliked, exported from the feedback database)
    hard_prompts: Path = field(init=False, repr=False, metadata={"at": "data/hard_prompts.csv"})
    # train
    checkpoints_dir: Path = field(init=False, repr=False, metadata={"at": "artifacts/train/checkpoints"})
    model_dir: Path = field(init=False, repr=False, metadata={"at": "artifacts/train/model"})
    # evaluate
    eval_dir: Path = field(init=False, repr=False, metadata={"at": "artifacts/evaluate"})
    # metrics (DVC metrics files, small JSON)
    metrics_dir: Path = field(init=False, repr=False, metadata={"at": "metrics"})
    # stores outside DVC
    mlruns: Path = field(init=False, repr=False, metadata={"at": "mlruns"})
    dvc_lock: Path = field(init=False, repr=False, metadata={"at": "dvc.lock"})

    def __post_init__(self) -> None:
        for placed in dataclasses.fields(self):
            if "at" in placed.metadata:
                object.__setattr__(self, placed.name, self.root / placed.metadata["at"])

    @classmethod
    def at(cls, root: str | os.PathLike[str] | None = None) -> ProjectPaths:
        return cls(Path(root or os.getcwd()).resolve())

    def metrics(self, stage: str) -> Path:
        return self.metrics_dir / f"{stage}.json"

    @property
    def cache_dir(self) -> Path:
        """Content-addressed caches (embeddings, FID statistics, judge); safe to delete, never a DVC out."""
        override = os.environ.get(CACHE_DIR_ENV)
        return Path(override).resolve() if override else self.root / ".t2igan-cache"
