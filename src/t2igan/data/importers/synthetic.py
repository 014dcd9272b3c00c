"""The synthetic default as an import: render the set into the ingest directory and list its rows."""

from __future__ import annotations

from pathlib import Path

from t2igan.config import DataParams
from t2igan.data import shapes
from t2igan.data.importers.base import Imported


def read(data: DataParams, staging: Path) -> Imported:
    rows = shapes.write_dataset(data.synthetic, staging)
    pairs = shapes.heldout_pairs(data.synthetic.seed, data.synthetic.heldout_per_color)
    extra = {
        "attributes": {name: list(values) for name, values in shapes.ATTRIBUTES.items()},
        "heldout_pairs": sorted(list(pair) for pair in pairs),
    }
    return Imported(rows, Path("."), extra)
