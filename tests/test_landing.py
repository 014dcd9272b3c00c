"""A landing directory as the dataset: what lands is read, what is still landing is not, and DVC notices.

The last test is the one that matters for scheduled retraining: with real `dvc repro`, files landing in the
directory rerun ingest (and after it only what its new output changes), and the embedding cache encodes only
the new captions.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from conftest import VENV_BIN, copy_project_files, run_stages, tiny_params_dict
from t2igan.config import DataParams, parse_params
from t2igan.data.importers.folder import read
from t2igan.data.source import fingerprint
from t2igan.env import OFFLINE_DEFAULTS
from t2igan.paths import ProjectPaths

COLORS = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (40, 60, 220), "yellow": (230, 220, 40)}


def land(
    root: Path, name: str, captions: list[str] | None, color: str = "red", in_flight: bool = False
) -> None:
    """Drop an image (and its caption file, if given) as a careful writer does: temp name, then rename."""
    path = root / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.zeros((24, 24, 3), np.uint8)
    image[4:20, 4:20] = COLORS[color]
    temporary = path.with_name(f".{path.name}.tmp")
    Image.fromarray(image).save(temporary, format="PNG")
    if in_flight:
        return
    os.replace(temporary, path)
    if captions is not None:
        path.with_suffix(".txt").write_text("\n".join(captions) + "\n")


def _params(root: Path) -> DataParams:
    return DataParams(name="landing", source="folder", path=str(root), test_fraction=0.0)


def test_images_with_caption_files_become_rows_and_landing_files_are_ignored(tmp_path: Path) -> None:
    land(tmp_path, "a", ["a red square", "red on black"])
    land(tmp_path, "test/b", ["a blue square"], "blue")
    land(tmp_path, "c", None)  # its caption has not arrived yet
    land(tmp_path, "d", ["never finished"], in_flight=True)
    (tmp_path / "e.txt").write_text("a caption without its image\n")
    (tmp_path / "f.png.part").write_bytes(b"half an image")

    rows = {row["id"]: row for row in read(_params(tmp_path)).rows}
    assert set(rows) == {"folder-a-1", "folder-a-2", "folder-test/b-1", "folder-c-0", "folder-e-0"}
    assert rows["folder-a-2"]["caption"] == "red on black" and rows["folder-a-2"]["problem"] is None
    assert rows["folder-a-1"]["image_path"] == "a.png" and rows["folder-a-1"]["sha256"] is not None
    assert rows["folder-test/b-1"]["split"] == "test" and rows["folder-a-1"]["split"] == "train"
    assert rows["folder-c-0"]["problem"] == "c.png: no caption file c.txt beside it"
    assert rows["folder-e-0"]["problem"] == "e.txt: no image named e.* beside it"


def test_a_folder_dataset_is_validated_like_any_other(tmp_path: Path) -> None:
    data = tmp_path / "landing"
    for i, color in enumerate(COLORS):
        land(data, f"img{i}", [f"a {color} square", f"{color} on black"], color)
    (data / "img0.txt").write_bytes(b"\xff\xfe not utf-8\n")
    root = tmp_path / "project"
    root.mkdir()
    raw = tiny_params_dict(data={"name": "landing", "source": "folder", "path": str(data)})
    raw["validation"]["max_bad_fraction"] = 0.5
    paths = ProjectPaths.at(root)
    run_stages(parse_params(raw), paths, "ingest", "validate")
    rejected = pd.read_parquet(paths.rejected)
    assert rejected["reason"].tolist() == ["img0.txt: caption file is not valid UTF-8"]
    clean = pd.read_parquet(paths.clean_manifest)
    assert len(clean) == 6 and clean["image_id"].nunique() == 3


def test_fingerprint_changes_with_landed_files_only(tmp_path: Path) -> None:
    land(tmp_path, "a", ["a red square"])
    first = fingerprint(_params(tmp_path))
    assert (first.files, first.exists) == (2, True)
    land(tmp_path, "b", ["landing"], in_flight=True)  # still being written: not part of the dataset yet
    assert fingerprint(_params(tmp_path)).digest == first.digest
    land(tmp_path, "b", ["a green square"], "green")
    second = fingerprint(_params(tmp_path))
    assert second.digest != first.digest and second.files == 4
    os.utime(tmp_path / "a.txt", ns=(1, 1))  # rewritten in place
    assert fingerprint(_params(tmp_path)).digest != second.digest
    missing = fingerprint(_params(tmp_path / "nowhere"))
    assert (missing.exists, missing.files) == (False, 0)
    assert fingerprint(DataParams()).digest == fingerprint(DataParams()).digest  # synthetic: params only


def _dvc(project: Path, *args: str) -> str:
    env = {**os.environ, **OFFLINE_DEFAULTS, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [str(VENV_BIN / "dvc"), *args], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"dvc {args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


@pytest.mark.slow
@pytest.mark.integration
def test_new_files_in_the_landing_directory_rerun_ingest_and_embed_only_their_captions(tmp_path: Path) -> None:
    # Given a DVC project whose dataset is a landing directory, built once up to embed
    data = tmp_path / "landing"
    for i in range(12):
        color = list(COLORS)[i % len(COLORS)]
        land(data, f"img{i:02d}", [f"a {color} square number {i}", f"{color} block {i}"], color)
    project = tmp_path / "project"
    project.mkdir()
    copy_project_files(project)
    raw = tiny_params_dict(
        data={"name": "landing", "source": "folder", "path": str(data), "test_fraction": 0.2}
    )
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    _dvc(project, "init", "-q")
    assert _ran(_dvc(project, "repro", "embed")) == {"scan", "ingest", "validate", "embed"}
    first = json.loads((project / "metrics" / "embed.json").read_text())
    assert first["encoded"] == 24

    # When nothing lands, only the listing runs
    assert _ran(_dvc(project, "repro", "embed")) == {"scan"}

    # When three captioned images land (and one is still landing), ingest reruns and only new captions encode
    for i in range(12, 15):
        land(data, f"img{i:02d}", [f"a red square number {i}", f"red block {i}"])
    land(data, "img99", ["not yet"], in_flight=True)
    assert _ran(_dvc(project, "repro", "embed")) == {"scan", "ingest", "validate", "embed"}
    second = json.loads((project / "metrics" / "embed.json").read_text())
    assert (second["captions"], second["encoded"], second["from_cache"]) == (30, 6, 24)
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    assert any(dep["path"] == "data/source.json" for dep in lock["stages"]["ingest"]["deps"])
