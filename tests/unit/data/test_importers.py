"""Importers: a small real-photo dataset in every supported layout, and a corpus of bad inputs.

The photos come from scikit-image's bundled samples, saved in the modes and formats real datasets have
(RGB JPEG, grayscale, palette, RGBA, CMYK, 16-bit, EXIF-rotated).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from t2igan.config import parse_params
from t2igan.data.images import center_crop_resize
from t2igan.data.manifest import read_manifest
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
from tests.support.project import run_stages


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
        part = "val2017" if i < 2 else "train2017"
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
    assert set(clean.loc[clean["split"] == "test", "caption"]) == set(
        CAPTIONS["astronaut"] + CAPTIONS["chelsea"]
    )


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
    save_photo("coffee", data / "b.png")  # each dataset has two good images: validate wants two test images
    (data / "c.jsonl").write_bytes(
        b'{"caption": "an astronaut", "image_path": "a.jpg"}\n{not json\n[1, 2]\n{"caption": "no image"}\n'
        b'{"caption": 7, "image_path": "a.jpg"}\n{"caption": "coffee", "image_path": "b.png"}\n'
    )
    paths, raw = photo_project(tmp_path / "jsonl", source="jsonl", path=str(data / "c.jsonl"))
    clean, rejected = ingest_and_validate(paths, raw)
    assert len(clean) == 2
    assert sorted(r.split(": ", 1)[1] for r in rejected["reason"]) == [
        "caption is int, not text",
        "missing 'image_path'",
        "not a JSON object",
        "not valid JSON (Expecting property name enclosed in double quotes)",
    ]

    (data / "c.csv").write_bytes(b'caption,image_path\nan astronaut,a.jpg\n"a, b",a.jpg,extra\ncoffee,b.png\n')
    paths, raw = photo_project(tmp_path / "csv", source="csv", path=str(data / "c.csv"))
    clean, rejected = ingest_and_validate(paths, raw)
    assert len(clean) == 2 and rejected["reason"].str.contains("malformed row \\(3 fields").all()

    coco = tmp_path / "coco"
    (coco / "annotations").mkdir(parents=True)
    save_photo("astronaut", coco / "train2017" / "1.jpg")
    save_photo("coffee", coco / "train2017" / "2.png")
    (coco / "annotations" / "captions_train2017.json").write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "1.jpg"}, {"id": 2, "file_name": "2.png"}],
                "annotations": [
                    {"id": 1, "image_id": 1, "caption": "ok"},
                    {"id": 2, "image_id": 9, "caption": "x"},
                    {"id": 3, "image_id": 2, "caption": "also ok"},
                ],
            }
        )
    )
    paths, raw = photo_project(tmp_path / "c", source="coco", path=str(coco))
    clean, rejected = ingest_and_validate(paths, raw)
    assert len(clean) == 2 and "unknown image_id 9" in rejected["reason"].iloc[0]

    reed = tmp_path / "reed"
    save_photo("chelsea", reed / "images" / "cat" / "c1.png")
    save_photo("coffee", reed / "images" / "cat" / "c2.png")
    (reed / "text" / "cat").mkdir(parents=True)
    (reed / "text" / "cat" / "c1.txt").write_bytes(b"a tabby cat\nna\xefve cat\n")
    (reed / "text" / "cat" / "c2.txt").write_bytes(b"a cup of coffee\n")
    paths, raw = photo_project(tmp_path / "r", source="reed", path=str(reed))
    clean, rejected = ingest_and_validate(paths, raw)
    assert len(clean) == 2 and "c1.txt line 2: caption is not valid UTF-8" in rejected["reason"].iloc[0]


@pytest.mark.parametrize("source", ["coco", "reed", "imagefolder", "folder", "tsv", "csv", "jsonl"])
def test_a_dataset_path_that_does_not_exist_says_so(tmp_path: Path, source: str) -> None:
    from t2igan.config import DataParams
    from t2igan.data.importers.sources import read_source
    from t2igan.errors import DataError

    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match=rf"^{missing}: does not exist \(data\.path\)$"):
        read_source(DataParams(source=source, path=str(missing)), tmp_path)


def test_ingest_opens_no_file_a_symlink_takes_outside_the_dataset(tmp_path: Path) -> None:
    data = tmp_path / "links"
    save_photo("astronaut", data / "good.jpg")
    outside = tmp_path / "secret.png"
    save_photo("chelsea", outside)
    (data / "leak.png").symlink_to(outside)
    (data / "etc").symlink_to("/etc")
    (data / "inside.jpg").symlink_to(data / "good.jpg")  # a link that stays inside is fine
    (data / "c.tsv").write_text("a\tgood.jpg\nb\tleak.png\nc\tetc/hostname\nd\tinside.jpg\n")
    paths, raw = photo_project(tmp_path, source="tsv", path=str(data / "c.tsv"))
    run_stages(parse_params(raw), paths, "ingest")
    facts = read_manifest(paths.manifest).set_index("image_path")[["sha256", "width"]]
    assert facts.loc["good.jpg", "sha256"] and facts.loc["inside.jpg", "sha256"]
    assert facts.loc[["leak.png", "etc/hostname"]].isna().all().all()  # never hashed, never opened
    _, rejected = ingest_and_validate(paths, raw)
    assert set(rejected["image_path"]) == {"leak.png", "etc/hostname"}
    assert rejected["reason"].str.contains("escapes the dataset root").all()


def test_a_dataset_without_a_test_split_is_split_by_data_test_fraction(tmp_path: Path) -> None:
    from t2igan.config import DataParams
    from t2igan.data.importers.sources import read_source

    coco = tmp_path / "coco"
    (coco / "annotations").mkdir(parents=True)
    images = [{"id": i, "file_name": f"{i}.jpg"} for i in range(40)]
    annotations = [{"id": i, "image_id": i, "caption": f"photo {i}"} for i in range(40)]
    (coco / "annotations" / "captions_train2017.json").write_text(
        json.dumps({"images": images, "annotations": annotations})
    )
    hf = tmp_path / "hf" / "train"
    hf.mkdir(parents=True)
    (hf / "metadata.jsonl").write_text(
        "".join(json.dumps({"file_name": f"{i}.png", "text": "x"}) + "\n" for i in range(40))
    )
    for source, root in (("coco", coco), ("imagefolder", hf.parent)):
        rows = read_source(DataParams(source=source, path=str(root), test_fraction=0.3), tmp_path).rows
        test = [row for row in rows if row["split"] == "test"]
        assert 4 <= len(test) <= 20, source  # about 30% of 40, by a hash of each image
        again = read_source(DataParams(source=source, path=str(root), test_fraction=0.3), tmp_path).rows
        assert [row["split"] for row in again] == [row["split"] for row in rows]
    # A dataset that has its own test split keeps it whatever the fraction.
    (coco / "annotations" / "captions_val2017.json").write_text(
        json.dumps(
            {
                "images": [{"id": 99, "file_name": "99.jpg"}],
                "annotations": [{"id": 99, "image_id": 99, "caption": "v"}],
            }
        )
    )
    rows = read_source(DataParams(source="coco", path=str(coco), test_fraction=0.3), tmp_path).rows
    assert [row["image_id"] for row in rows if row["split"] == "test"] == ["coco-val2017-99"]


def test_image_paths_relative_to_the_wrong_folder_point_at_data_image_root(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from t2igan.errors import DataError

    data = tmp_path / "tsv"
    for name in CAPTIONS:
        save_photo(name, data / "photos" / "img" / f"{name}{photo_suffix(name)}")
    lines = [f"a photo\timg/{name}{photo_suffix(name)}" for name in CAPTIONS]
    (data / "captions.tsv").write_text("\n".join(lines) + "\n")  # relative to photos/, not to the file
    paths, raw = photo_project(tmp_path, source="tsv", path=str(data / "captions.tsv"), test_fraction=0.5)
    with caplog.at_level("WARNING"):
        run_stages(parse_params(raw), paths, "ingest")
    assert f"none of the 6 image paths exists under {data} (data.image_root:" in caplog.text
    with pytest.raises(DataError, match=rf"every image is missing under {data}: set data\.image_root"):
        run_stages(parse_params(raw), paths, "validate")
    raw["data"]["image_root"] = str(data / "photos")
    clean, rejected = ingest_and_validate(paths, raw)
    assert len(clean) == 6 and rejected.empty
