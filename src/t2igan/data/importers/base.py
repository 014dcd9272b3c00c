"""What every importer returns (`Imported`), and the checks they share: text that is not UTF-8, a dataset
directory that is not there."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from t2igan.config import DataParams
from t2igan.errors import DataError


@dataclass
class Imported:
    rows: list[dict[str, Any]]
    root: Path | str  # where the rows' image paths resolve (relative: to the ingest directory; a URL: shards)
    extra: dict[str, Any] = field(default_factory=dict)


def utf8_problem(*values: object) -> str | None:
    """Text decoded with surrogateescape (or JSON with lone surrogates) is not valid UTF-8."""
    for value in values:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "caption is not valid UTF-8"
    return None


def dataset_root(params: DataParams) -> Path:
    """The dataset's directory (data.path), refused in one line when it is not there."""
    root = Path(params.path or "").expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"{Path(params.path or '').expanduser()}: does not exist (data.path)")
    return root
