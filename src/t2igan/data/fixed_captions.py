"""The fixed captions that sample grids show, chosen the same way by train (MLflow grids) and evaluate."""

from __future__ import annotations

import numpy as np

from t2igan.data.manifest import read_clean_manifest
from t2igan.paths import ProjectPaths


def grid_rows(paths: ProjectPaths, count: int) -> tuple[list[str], np.ndarray]:
    """Captions and their clean-manifest rows: half seen combinations (test split), half held-out ones."""
    manifest = read_clean_manifest(paths).reset_index(drop=True)
    picked: list[int] = []
    for split, share in (("test", count - count // 2), ("heldout", count // 2)):
        rows = manifest.index[manifest["split"] == split].tolist()
        picked += rows[:: max(1, len(rows) // max(share, 1))][:share]
    if len(picked) < count:  # datasets without a heldout split
        rest = [i for i in manifest.index[manifest["split"] != "train"].tolist() if i not in picked]
        picked += rest[: count - len(picked)]
    return manifest.loc[picked, "caption"].tolist(), np.asarray(picked, dtype=np.int64)
