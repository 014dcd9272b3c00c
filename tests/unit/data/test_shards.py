"""WebDataset shards in: the photo dataset as shards with hostile samples beside the good ones, and the same
images as shards and as a CSV giving the same clean manifest and store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from t2igan.data.shards import locate
from t2igan.data.store import open_images
from t2igan.errors import DataError
from tests.support.datasets import CAPTIONS, ingest_and_validate, photo_project
from tests.support.shards import good_members, photo_samples, write_tar

HOSTILE_REASONS = {  # key -> a piece of the reason its row must carry
    "corrupt": "truncated or corrupt image",
    "nocaption": "no caption",
    "empty": "empty file",
    "text": "not an image Pillow can read",
    "../escape": "key is a path outside the shard",
    "cut": "shard truncated or corrupt",
}


def _hostile_dataset(root: Path, scratch: Path) -> dict[str, str]:
    """Three shards: the six photos (two captions each, one sample per caption pair) with a hostile sample
    after each pair. Returns key -> shard of the good samples."""
    photos = photo_samples(scratch)
    names = list(photos)
    jpeg = photos["astronaut"][0]
    good: dict[str, str] = {}
    members: dict[str, list[tuple[str, bytes]]] = {"00000.tar": [], "00001.tar": [], "00002.tar": []}
    for number, name in enumerate(names):
        shard = f"{number // 2:05d}.tar"
        image, extension, captions = photos[name]
        members[shard] += good_members(name, image, extension, captions[0], "test" if number % 2 else "train")
        good[name] = shard
    members["00000.tar"] += [
        ("corrupt.jpg", jpeg[: len(jpeg) // 3]),
        ("corrupt.txt", b"half a photo"),
        ("nocaption.jpg", jpeg),
        ("empty.jpg", b""),
        ("empty.txt", b"nothing at all"),
    ]
    members["00001.tar"] += [
        ("text.jpg", b"this is a text file, not a JPEG\n" * 8),
        ("text.txt", b"a text file"),
        ("../escape.jpg", jpeg),
        ("../escape.txt", b"a way out"),
    ]
    members["00002.tar"] += [("cut.txt", b"a photo cut short"), ("cut.jpg", jpeg)]
    for shard, content in members.items():
        write_tar(root / shard, content, truncate_last=len(jpeg) // 2 if shard == "00002.tar" else 0)
    return good


def test_hostile_samples_are_rejected_by_shard_and_key_and_the_good_ones_kept(tmp_path: Path) -> None:
    data = tmp_path / "shards"
    good = _hostile_dataset(data, tmp_path / "photos")
    paths, raw = photo_project(tmp_path, source="webdataset", path=str(data))
    clean, rejected = ingest_and_validate(paths, raw)
    assert sorted(clean["image_id"]) == sorted(good)
    assert clean.groupby("image_id")["image_path"].first().to_dict() == {
        key: f"{shard}#{key}.{'jpg' if key in ('astronaut', 'rocket', 'hubble_deep_field') else 'png'}"
        for key, shard in good.items()
    }
    assert (clean["split"] == "test").sum() == 3  # the .json's split, where the sample has one
    by_key = rejected.set_index("key")
    assert set(by_key.index) == set(HOSTILE_REASONS)
    for key, reason in HOSTILE_REASONS.items():
        assert reason in by_key.loc[key, "reason"], (key, by_key.loc[key, "reason"])
        assert "Traceback" not in by_key.loc[key, "reason"] and "\n" not in by_key.loc[key, "reason"]
    assert by_key["shard"].to_dict() == {
        "corrupt": "00000.tar",
        "nocaption": "00000.tar",
        "empty": "00000.tar",
        "text": "00001.tar",
        "../escape": "00001.tar",
        "cut": "00002.tar",
    }
    assert by_key.loc["nocaption", "reason"].startswith("shard 00000.tar key 'nocaption': ")
    assert len(open_images(paths)) == len(good)


def test_the_same_images_as_shards_and_as_a_csv_give_the_same_manifest_and_store(tmp_path: Path) -> None:
    photos = photo_samples(tmp_path / "photos")
    table = tmp_path / "table"
    records, members = [], []
    for number, (name, (image, extension, captions)) in enumerate(photos.items()):
        split = "test" if number % 2 else "train"
        (table / "img").mkdir(parents=True, exist_ok=True)
        (table / "img" / f"{name}.{extension}").write_bytes(image)
        records.append({"caption": captions[0], "image_path": f"img/{name}.{extension}", "split": split})
        members += good_members(name, image, extension, captions[0], split)
    pd.DataFrame(records).to_csv(table / "captions.csv", index=False)
    write_tar(tmp_path / "shards" / "00000.tar", members[: len(members) // 2])
    write_tar(tmp_path / "shards" / "00001.tar", members[len(members) // 2 :])
    columns = {"split": "split"}
    csv_paths, csv_raw = photo_project(
        tmp_path / "a", source="csv", path=str(table / "captions.csv"), columns=columns, store="array"
    )
    shard_paths, shard_raw = photo_project(
        tmp_path / "b",
        source="webdataset",
        path=str(tmp_path / "shards" / "{00000..00001}.tar"),
        store="shards",
    )
    csv_clean, _ = ingest_and_validate(csv_paths, csv_raw)
    shard_clean, _ = ingest_and_validate(shard_paths, shard_raw)
    same = ["caption", "split", "sha256", "width", "height", "attributes", "store_index"]
    pd.testing.assert_frame_equal(csv_clean[same], shard_clean[same])
    assert csv_paths.image_store.is_file() and (shard_paths.image_shards / "index.json").is_file()
    csv_store, shard_store = open_images(csv_paths), open_images(shard_paths)
    assert csv_store.shape == shard_store.shape == (len(CAPTIONS), 16, 16, 3)
    assert np.array_equal(
        np.asarray(csv_store[np.arange(len(CAPTIONS))]), shard_store[np.arange(len(CAPTIONS))]
    )


def test_shards_are_found_by_directory_pattern_and_refused_in_one_line(tmp_path: Path) -> None:
    for name in ("b.tar", "a.tar", "sub/c.tar", ".hidden.tar", "notes.txt"):
        write_tar(tmp_path / "d" / name, [("k.txt", b"x")])
    assert locate(str(tmp_path / "d")).names == ("a.tar", "b.tar", "sub/c.tar")
    pattern = locate(str(tmp_path / "d" / "{a,b}.tar"))
    assert (pattern.root, pattern.names) == (str(tmp_path / "d"), ("a.tar", "b.tar"))
    with pytest.raises(DataError, match=r"^.*empty: no \.tar shards found \(data\.path\)$"):
        (tmp_path / "empty").mkdir()
        locate(str(tmp_path / "empty"))
    with pytest.raises(DataError, match=r"not a directory of \.tar shards"):
        locate(str(tmp_path / "missing"))
    with pytest.raises(DataError, match=r"^nosuch://bucket/x: cannot list the shards \(ValueError: "):
        locate("nosuch://bucket/x")


def test_metadata_caption_is_used_when_there_is_no_text_member(tmp_path: Path) -> None:
    photos = photo_samples(tmp_path / "photos")
    members = []
    for name, (image, extension, captions) in photos.items():
        members += [
            (f"{name}.{extension}", image),
            (f"{name}.json", json.dumps({"caption": captions[1]}).encode()),
        ]
    write_tar(tmp_path / "s" / "0.tar", members)
    paths, raw = photo_project(tmp_path, source="webdataset", path=str(tmp_path / "s"))
    clean, rejected = ingest_and_validate(paths, raw)
    assert rejected.empty
    assert dict(zip(clean["image_id"], clean["caption"], strict=True)) == {n: c[1] for n, c in CAPTIONS.items()}
