"""The fixed captions that sample grids show, chosen the same way by train (MLflow grids) and evaluate."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from t2igan.data.manifest import read_clean_manifest
from t2igan.paths import ProjectPaths


def grid_rows(paths: ProjectPaths, count: int) -> tuple[list[str], np.ndarray]:
    """Captions and their clean-manifest rows: half seen combinations (test split), half held-out ones.

    Only the split column is read whole; the captions of the chosen rows are read after (a train stage on
    millions of rows should not hold every caption to show a few)."""
    manifest = read_clean_manifest(paths, columns=("split",)).reset_index(drop=True)
    picked: list[int] = []
    for split, share in (("test", count - count // 2), ("heldout", count // 2)):
        rows = manifest.index[manifest["split"] == split].tolist()
        picked += rows[:: max(1, len(rows) // max(share, 1))][:share]
    if len(picked) < count:  # datasets without a heldout split
        rest = [i for i in manifest.index[manifest["split"] != "train"].tolist() if i not in picked]
        picked += rest[: count - len(picked)]
    chosen = np.asarray(picked, dtype=np.int64)
    captions = pq.read_table(paths.clean_manifest, columns=["caption"]).column("caption").take(chosen)
    return [str(caption) for caption in captions.to_pylist()], chosen
