"""A landing directory as the dataset: what lands is read, what is landing is not; the fingerprint sees it.

tests/integration/test_landing.py runs it through real `dvc repro`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from t2igan.config import DataParams, parse_params
from t2igan.data.importers.folder import read
from t2igan.data.manifest import with_file_facts
from t2igan.data.source import fingerprint
from t2igan.paths import ProjectPaths
from tests.support.landing import COLORS, land
from tests.support.project import run_stages, tiny_params_dict


def _params(root: Path) -> DataParams:
    return DataParams(name="landing", source="folder", path=str(root), test_fraction=0.0)


def test_images_with_caption_files_become_rows_and_landing_files_are_ignored(tmp_path: Path) -> None:
    land(tmp_path, "a", ["a red square", "red on black"])
    land(tmp_path, "test/b", ["a blue square"], "blue")
    land(tmp_path, "c", None)  # its caption has not arrived yet
    land(tmp_path, "d", ["never finished"], in_flight=True)
    (tmp_path / "e.txt").write_text("a caption without its image\n")
    (tmp_path / "f.png.part").write_bytes(b"half an image")

    imported = read(_params(tmp_path))
    with_file_facts(imported.rows, tmp_path, workers=1)
    rows = {row["id"]: row for row in imported.rows}
    assert set(rows) == {"folder-a-1", "folder-a-2", "folder-test/b-1", "folder-c-0", "folder-e-0"}
    assert rows["folder-a-2"]["caption"] == "red on black" and rows["folder-a-2"]["problem"] is None
    assert rows["folder-a-1"]["image_path"] == "a.png" and rows["folder-a-1"]["sha256"] is not None
    assert rows["folder-test/b-1"]["split"] == "test" and rows["folder-a-1"]["split"] == "train"
    assert rows["folder-c-0"]["problem"] == "c.png: no caption file c.txt beside it"
    assert rows["folder-e-0"]["problem"] == "e.txt: no image named e.* beside it"


def test_a_folder_dataset_is_validated_like_any_other(tmp_path: Path) -> None:
    data = tmp_path / "landing"
    for i, color in enumerate(COLORS):
        land(data, f"{'test/' if i >= 2 else ''}img{i}", [f"a {color} square", f"{color} on black"], color)
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


def test_a_caption_file_linked_from_outside_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the password is hunter2\n")
    landing = tmp_path / "landing"
    land(landing, "a", None)
    (landing / "a.txt").symlink_to(secret)
    (row,) = read(_params(landing)).rows
    assert row["caption"] is None and "hunter2" not in str(row)
    assert row["problem"] == "a.txt: caption file escapes the dataset root"


def test_the_fingerprint_of_shards_changes_with_a_shard_and_names_a_missing_set_without_failing(
    tmp_path: Path,
) -> None:
    from tests.support.shards import write_tar

    for name in ("00000.tar", "00001.tar"):
        write_tar(tmp_path / "s" / name, [("k.txt", b"a caption")])
    params = DataParams(name="shards", source="webdataset", path=str(tmp_path / "s" / "{00000..00001}.tar"))
    first = fingerprint(params)
    assert (first.exists, first.files) == (True, 2) and first.bytes == 2 * (
        tmp_path / "s" / "00000.tar"
    ).stat().st_size
    assert fingerprint(params).digest == first.digest
    write_tar(tmp_path / "s" / "00001.tar", [("k.txt", b"another caption")])
    os.utime(tmp_path / "s" / "00001.tar", ns=(1, 1))
    assert fingerprint(params).digest != first.digest
    missing = fingerprint(DataParams(name="x", source="webdataset", path=str(tmp_path / "nothing")))
    assert (missing.exists, missing.files) == (False, 0)
