"""The ingest stage on the synthetic default: a manifest row per caption, with ground truth."""

from __future__ import annotations

import json

from t2igan.config import Params
from t2igan.data.dataset import DatasetInfo
from t2igan.data.manifest import read_manifest
from t2igan.data.splits import SPLITS
from t2igan.paths import ProjectPaths
from t2igan.stages import ingest


def test_ingest_writes_a_manifest_row_per_caption_with_ground_truth(
    project: ProjectPaths, tiny_params: Params
) -> None:
    result = ingest.run(tiny_params, project)
    manifest = read_manifest(project.manifest)
    cfg = tiny_params.data.synthetic
    assert result.images == cfg.num_train + cfg.num_test + cfg.num_heldout
    assert len(manifest) == result.images * cfg.captions_per_image
    assert manifest["id"].is_unique
    assert set(manifest["split"]) == set(SPLITS)
    first = manifest.iloc[0]
    assert json.loads(first["attributes"])["color"] in first["caption"].lower()
    assert (project.ingest_dir / first["image_path"]).is_file()
    assert int(first["width"]) == cfg.resolution and len(first["sha256"]) == 64
    info = DatasetInfo.read(project)
    assert (info.name, info.source, info.root, info.rows) == ("synthetic", "synthetic", ".", len(manifest))
    assert set(info.extra["attributes"]) == {"color", "shape", "size", "position", "background"}
