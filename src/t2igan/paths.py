"""Where each stage reads and writes, relative to the project root.

`dvc.yaml` names the same paths (a test keeps the two in step); stages receive a `ProjectPaths` so that tests
can run them in a temporary project.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProjectPaths:
    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str] | None = None) -> ProjectPaths:
        return cls(Path(root or os.getcwd()).resolve())

    # scan
    @property
    def source_fingerprint(self) -> Path:
        return self.root / "data" / "source.json"

    # ingest
    @property
    def ingest_dir(self) -> Path:
        return self.root / "data" / "ingest"

    @property
    def manifest(self) -> Path:
        return self.ingest_dir / "manifest.parquet"

    @property
    def dataset_info(self) -> Path:
        return self.ingest_dir / "dataset.json"

    # validate
    @property
    def clean_dir(self) -> Path:
        return self.root / "data" / "clean"

    @property
    def clean_manifest(self) -> Path:
        return self.clean_dir / "manifest.parquet"

    @property
    def rejected(self) -> Path:
        return self.clean_dir / "rejected.parquet"

    @property
    def image_store(self) -> Path:
        return self.clean_dir / "images.npy"

    @property
    def validation_report(self) -> Path:
        return self.clean_dir / "report.md"

    # embed
    @property
    def embeddings_dir(self) -> Path:
        return self.root / "data" / "embeddings"

    # train
    @property
    def train_dir(self) -> Path:
        return self.root / "artifacts" / "train"

    @property
    def checkpoints_dir(self) -> Path:
        return self.train_dir / "checkpoints"

    @property
    def model_dir(self) -> Path:
        return self.train_dir / "model"

    # evaluate
    @property
    def eval_dir(self) -> Path:
        return self.root / "artifacts" / "evaluate"

    # metrics (DVC metrics files, small JSON)
    @property
    def metrics_dir(self) -> Path:
        return self.root / "metrics"

    def metrics(self, stage: str) -> Path:
        return self.metrics_dir / f"{stage}.json"

    # stores outside DVC
    @property
    def mlruns(self) -> Path:
        return self.root / "mlruns"

    @property
    def cache_dir(self) -> Path:
        """Content-addressed caches (embeddings, FID statistics, judge); safe to delete, never a DVC out."""
        override = os.environ.get("T2IGAN_CACHE_DIR")
        return Path(override).resolve() if override else self.root / ".t2igan-cache"

    @property
    def dvc_lock(self) -> Path:
        return self.root / "dvc.lock"
