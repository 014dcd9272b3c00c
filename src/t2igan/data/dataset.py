"""dataset.json: what ingest read, and where the images live (the dataset root)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from t2igan.errors import StageInputError
from t2igan.io import read_json, write_json
from t2igan.paths import ProjectPaths


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    source: str
    root: str  # relative to the ingest directory, or absolute for data that stays where it is
    rows: int
    images: int
    extra: dict[str, Any] = field(default_factory=dict)

    def root_path(self, paths: ProjectPaths) -> Path:
        root = Path(self.root)
        return root if root.is_absolute() else (paths.ingest_dir / root).resolve()

    def write(self, path: Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def read(cls, paths: ProjectPaths) -> DatasetInfo:
        if not paths.dataset_info.is_file():
            raise StageInputError(f"{paths.dataset_info}: not found (run `t2igan ingest` first)")
        return cls(**read_json(paths.dataset_info))
