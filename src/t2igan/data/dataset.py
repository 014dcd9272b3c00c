"""dataset.json: what ingest read, and where the images live (the dataset root)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from t2igan.config import DataParams
from t2igan.errors import StageInputError
from t2igan.io import read_json, write_json
from t2igan.paths import ProjectPaths

if TYPE_CHECKING:
    import pandas as pd

    from t2igan.data.importers.base import Imported


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    source: str
    root: str  # relative to the ingest directory, or absolute for data that stays where it is
    rows: int
    images: int
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def describe(cls, data: DataParams, imported: Imported, manifest: pd.DataFrame) -> DatasetInfo:
        return cls(
            name=data.name,
            source=data.source,
            root=str(imported.root),
            rows=len(manifest),
            images=int(manifest["image_id"].nunique()),
            extra=imported.extra,
        )

    def root_path(self, paths: ProjectPaths) -> Path | str:
        """Where image paths resolve: a directory, or a URL (shards on object storage) as it was given."""
        if "://" in self.root:
            return self.root
        root = Path(self.root)
        return root if root.is_absolute() else (paths.ingest_dir / root).resolve()

    def write(self, path: Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def read(cls, paths: ProjectPaths) -> DatasetInfo:
        if not paths.dataset_info.is_file():
            raise StageInputError(f"{paths.dataset_info}: not found (run `t2igan ingest` first)")
        return cls(**read_json(paths.dataset_info))
