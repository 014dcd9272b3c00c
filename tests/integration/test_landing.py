"""A landing directory under real `dvc repro`: landed files rerun ingest, and only new captions are encoded.

The case that matters for scheduled retraining: new files rerun ingest (and after it only what its new
output changes), nothing landed reruns only the listing, and a file still landing is not read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.support.landing import COLORS, land
from tests.support.project import dvc, dvc_project, repro_ran, tiny_params_dict

# How many captions each embed encodes is the subject: the project starts with an empty cache.
pytestmark = pytest.mark.own_cache


@pytest.mark.slow
def test_new_files_in_the_landing_directory_rerun_ingest_and_embed_only_their_captions(tmp_path: Path) -> None:
    # Given a DVC project whose dataset is a landing directory, built once up to embed
    data = tmp_path / "landing"
    for i in range(12):
        color = list(COLORS)[i % len(COLORS)]
        land(data, f"img{i:02d}", [f"a {color} square number {i}", f"{color} block {i}"], color)
    raw = tiny_params_dict(
        data={"name": "landing", "source": "folder", "path": str(data), "test_fraction": 0.2}
    )
    project = dvc_project(tmp_path / "project", raw)
    assert repro_ran(dvc(project, "repro", "embed")) == {"scan", "ingest", "validate", "embed"}
    first = json.loads((project / "metrics" / "embed.json").read_text())
    assert first["encoded"] == 24

    # When nothing lands, only the listing runs
    assert repro_ran(dvc(project, "repro", "embed")) == {"scan"}

    # When three captioned images land (and one is still landing), ingest reruns and only new captions encode
    for i in range(12, 15):
        land(data, f"img{i:02d}", [f"a red square number {i}", f"red block {i}"])
    land(data, "img99", ["not yet"], in_flight=True)
    assert repro_ran(dvc(project, "repro", "embed")) == {"scan", "ingest", "validate", "embed"}
    second = json.loads((project / "metrics" / "embed.json").read_text())
    assert (second["captions"], second["encoded"], second["from_cache"]) == (30, 6, 24)
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    assert any(dep["path"] == "data/source.json" for dep in lock["stages"]["ingest"]["deps"])
