"""Importers: a small real-photo dataset in every supported layout, and a corpus of bad inputs.

The photos come from scikit-image's bundled samples, saved in the modes and formats real datasets have
(RGB JPEG, grayscale, palette, RGBA, CMYK, 16-bit, EXIF-rotated).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from t2igan.data.images import center_crop_resize
from t2igan.data.store import open_store
from t2igan.paths import ProjectPaths
from tests.support.datasets import (
    CAPTIONS,
    bad_tsv_project,
    ingest_and_validate,
    photo_project,
    photo_suffix,
    save_photo,
    skimage_data,
)


def _check_all_photos_imported(paths: ProjectPaths, clean: pd.DataFrame, rejected: pd.DataFrame) -> None:
    assert rejected.empty, rejected[["id", "reason"]].to_string()
    assert len(clean) == 2 * len(CAPTIONS)
    assert clean["image_id"].nunique() == len(CAPTIONS)
    # Several captions of one image stay together: one image in the store, two rows pointing at it.
    assert clean.groupby("image_id")["store_index"].nunique().eq(1).all()
    store = open_store(paths.image_store)
    assert store.shape == (len(CAPTIONS), 16, 16, 3)
    assert set(clean["caption"]) == {c for pair in CAPTIONS.values() for c in pair}


def test_tsv(tmp_path: Path) -> None:
    data = tmp_path / "tsvdata"
    lines = []
    for name, captions in CAPTIONS.items():
        save_photo(name, data / "img" / f"{name}{photo_suffix(name)}")
        lines += [f"{caption}\timg/{name}{photo_suffix(name)}" for caption in captions]
    (data / "captions.tsv").write_text("\n".join(lines) + "\n")
    paths, raw = photo_project(tmp_path, source="tsv", path=str(data / "captions.tsv"))
    _check_all_photos_imported(paths, *ingest_and_validate(paths, raw))


def test_csv_and_jsonl_with_named_columns_and_splits(tmp_path: Path) -> None:
    data = tmp_path / "table"
    records = []
    for i, (name, captions) in enumerate(CAPTIONS.items()):
        save_photo(name, data / "photos" / f"{name}{photo_suffix(name)}")
        records += [
            {"text": c, "file": f"photos/{name}{photo_suffix(name)}", "part": "val" if i < 2 else "train"}
            for c in captions
        ]
    pd.DataFrame(records).to_csv(data / "captions.csv", index=False)
    (data / "captions.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    columns = {"caption": "text", "image": "file", "split": "part"}
    for source in ("csv", "jsonl"):
        paths, raw = photo_project(
            tmp_path / source, source=source, path=str(data / f"captions.{source}"), columns=columns
        )
        clean, rejected = ingest_and_validate(paths, raw)
        _check_all_photos_imported(paths, clean, rejected)
        assert (clean["split"] == "test").sum() == 4  # "val" maps to the test split


def test_coco(tmp_path: Path) -> None:
    data = tmp_path / "coco"
    annotations = {"train2017": {"images": [], "annotations": []}, "val2017": {"images": [], "annotations": []}}
    for i, (name, captions) in enumerate(CAPTIONS.items()):
        part = "val2017" if i == 0 else "train2017"
        file_name = f"{i:012d}{photo_suffix(name)}"
        save_photo(name, data / part / file_name)
        annotations[part]["images"].append({"id": i, "file_name": file_name})
        annotations[part]["annotations"] += [
            {"id": 100 * i + k, "image_id": i, "caption": c} for k, c in enumerate(captions)
        ]
    (data / "annotations").mkdir()
    for part, content in annotations.items():
        (data / "annotations" / f"captions_{part}.json").write_text(json.dumps(content))
    paths, raw = photo_project(tmp_path, source="coco", path=str(data))
    clean, rejected = ingest_and_validate(paths, raw)
    _check_all_photos_imported(paths, clean, rejected)
    assert set(clean.loc[clean["split"] == "test", "caption"]) == set(CAPTIONS["astronaut"])


def test_reed_layout_with_class_splits(tmp_path: Path) -> None:
    data = tmp_path / "cub"
    for i, (name, captions) in enumerate(CAPTIONS.items()):
        class_name = f"{i:03d}.{name}"
        save_photo(name, data / "images" / class_name / f"{name}_0001{photo_suffix(name)}")
        (data / "text_c10" / class_name).mkdir(parents=True)
        (data / "text_c10" / class_name / f"{name}_0001.txt").write_text("\n".join(captions) + "\n")
    (data / "trainclasses.txt").write_text("\n".join(f"{i:03d}.{n}" for i, n in enumerate(CAPTIONS) if i >= 2))
    (data / "testclasses.txt").write_text("000.astronaut\n001.chelsea\n")
    paths, raw = photo_project(tmp_path, source="reed", path=str(data))
    clean, rejected = ingest_and_validate(paths, raw)
    _check_all_photos_imported(paths, clean, rejected)
    assert set(clean.loc[clean["split"] == "test", "image_id"]) == {
        "000.astronaut/astronaut_0001",
        "001.chelsea/chelsea_0001",
    }


def test_imagefolder_with_split_directories(tmp_path: Path) -> None:
    data = tmp_path / "hf"
    for i, (name, captions) in enumerate(CAPTIONS.items()):
        split = "test" if i < 2 else "train"
        save_photo(name, data / split / f"{name}{photo_suffix(name)}")
        with (data / split / "metadata.jsonl").open("a") as handle:
            for caption in captions:
                handle.write(json.dumps({"file_name": f"{name}{photo_suffix(name)}", "text": caption}) + "\n")
    paths, raw = photo_project(tmp_path, source="imagefolder", path=str(data))
    clean, rejected = ingest_and_validate(paths, raw)
    _check_all_photos_imported(paths, clean, rejected)
    assert clean["image_path"].str.startswith(("train/", "test/")).all()
    assert (clean["split"] == "test").sum() == 4


def test_decoded_photos_are_upright_and_in_colour(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    astronaut = skimage_data.astronaut()[:, 64:448]  # portrait 512x384: the crop would differ when turned
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned 90 degrees counter-clockwise: display turns it clockwise
    Image.fromarray(np.rot90(astronaut, k=1).copy()).save(data / "rotated.jpg", exif=exif.tobytes(), quality=95)
    save_photo("coffee", data / "rgba.png")
    (data / "c.tsv").write_text("rotated astronaut\trotated.jpg\ncoffee\trgba.png\n")
    paths, raw = photo_project(tmp_path, source="tsv", path=str(data / "c.tsv"))
    clean, _ = ingest_and_validate(paths, raw)
    rotated = clean.set_index("image_path").loc["rotated.jpg"]
    assert (int(rotated["width"]), int(rotated["height"])) == (512, 384)  # the header says landscape
    store = open_store(paths.image_store)
    stored = {row.image_path: store[row.store_index].astype(int) for row in clean.itertuples()}

    def distance(image: np.ndarray, expected: np.ndarray) -> float:
        return float(np.abs(image - center_crop_resize(Image.fromarray(expected), 16).astype(int)).mean())

    # Upright: the store holds the photo as displayed, not as the file's pixels lie.
    turned = np.rot90(astronaut).copy()
    assert distance(stored["rotated.jpg"], astronaut) < 4 < distance(stored["rotated.jpg"], turned)
    # RGBA composited and kept in colour: the coffee photo itself, its channels apart.
    coffee = stored["rgba.png"]
    assert distance(coffee, skimage_data.coffee()) < 2
    assert np.abs(coffee[..., 0] - coffee[..., 2]).mean() > 20


def test_every_bad_row_is_rejected_with_its_reason_and_every_good_row_kept(tmp_path: Path) -> None:
    paths, raw, expected, good = bad_tsv_project(tmp_path)
    clean, rejected = ingest_and_validate(paths, raw)
    line_of = lambda row_id: int(row_id.rsplit("-", 1)[1])  # noqa: E731 - row ids are tsv-<line>
    reasons = {line_of(r): reason for r, reason in zip(rejected["id"], rejected["reason"], strict=True)}
    assert set(reasons) == set(expected)
    for line, reason in expected.items():
        assert reason in reasons[line], (line, reasons[line])
        assert "\n" not in reasons[line]
    assert {line_of(r) for r in clean["id"]} == good


def test_bad_jsonl_csv_coco_and_reed_records_become_rejected_rows(tmp_path: Path) -> None:
    data = tmp_path / "mixed"
    save_photo("astronaut", data / "a.jpg")
    (data / "c.jsonl").write_bytes(
        b'{"caption": "an astronaut", "image_path": "a.jpg"}\n{not json\n[1, 2]\n{"caption": "no image"}\n'
        b'{"caption": 7, "image_path": "a.jpg"}\n'
    )
    paths, raw = photo_project(tmp_path / "jsonl", source="jsonl", path=str(data / "c.jsonl"))
    clean, rejected = ingest_and_validate(paths, raw)
    assert len(clean) == 1
    assert sorted(r.split(": ", 1)[1] for r in rejected["reason"]) == [
        "caption is int, not text",
        "missing 'image_path'",
        "not a JSON object",
        "not valid JSON (Expecting property name enclosed in double quotes)",
    ]

    (data / "c.csv").write_bytes(b'caption,image_path\nan astronaut,a.jpg\n"a, b",a.jpg,extra\n')
    paths, raw = photo_project(tmp_path / "csv", source="csv", path=str(data / "c.csv"))
    clean, rejected = ingest_and_validate(paths, raw)
    assert len(clean) == 1 and rejected["reason"].str.contains("malformed row \\(3 fields").all()

    coco = tmp_path / "coco"
    (coco / "annotations").mkdir(parents=True)
    save_photo("astronaut", coco / "train2017" / "1.jpg")
    (coco / "annotations" / "captions_train2017.json").write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "1.jpg"}],
                "annotations": [
                    {"id": 1, "image_id": 1, "caption": "ok"},
                    {"id": 2, "image_id": 9, "caption": "x"},
                ],
            }
        )
    )
    paths, raw = photo_project(tmp_path / "c", source="coco", path=str(coco))
    clean, rejected = ingest_and_validate(paths, raw)
    assert len(clean) == 1 and "unknown image_id 9" in rejected["reason"].iloc[0]

    reed = tmp_path / "reed"
    save_photo("chelsea", reed / "images" / "cat" / "c1.png")
    (reed / "text" / "cat").mkdir(parents=True)
    (reed / "text" / "cat" / "c1.txt").write_bytes(b"a tabby cat\nna\xefve cat\n")
    paths, raw = photo_project(tmp_path / "r", source="reed", path=str(reed))
    clean, rejected = ingest_and_validate(paths, raw)
    assert len(clean) == 1 and "c1.txt line 2: caption is not valid UTF-8" in rejected["reason"].iloc[0]
