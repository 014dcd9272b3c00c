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
import yaml
from PIL import Image

from conftest import cli, run_stages, tiny_params_dict
from t2igan.config import parse_params
from t2igan.data.manifest import read_manifest
from t2igan.data.store import open_store
from t2igan.paths import ProjectPaths

skimage_data = pytest.importorskip("skimage.data")

CAPTIONS = {
    "astronaut": ["an astronaut in a white suit", "a woman in a space suit holding a helmet"],
    "chelsea": ["a ginger cat looking sideways", "a tabby cat on a blanket"],
    "coffee": ["a cup of coffee on a saucer", "latte art in a white cup"],
    "rocket": ["a rocket on the launch pad", "a space shuttle before launch"],
    "camera": ["a man with a camera on a tripod", "a black and white photo of a cameraman"],
    "hubble_deep_field": ["galaxies in deep space", "a field of distant galaxies"],
}


def _save(name: str, path: Path) -> None:
    """Save a sample photo in a format and mode that exercises the decoder."""
    array = getattr(skimage_data, name)()
    image = Image.fromarray(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    if name == "chelsea":  # palette PNG
        image.convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    elif name == "coffee":  # RGBA PNG
        image.convert("RGBA").save(path)
    elif name == "rocket":  # CMYK JPEG
        image.convert("CMYK").save(path, quality=90)
    elif name == "camera":  # 16-bit grayscale PNG
        Image.fromarray(array.astype(np.uint16) * 257).save(path)
    elif name == "hubble_deep_field":  # EXIF-rotated JPEG
        exif = Image.Exif()
        exif[0x0112] = 6
        image.save(path, exif=exif.tobytes(), quality=90)
    else:
        image.save(path, quality=90)


def _suffix(name: str) -> str:
    return ".jpg" if name in ("astronaut", "rocket", "hubble_deep_field") else ".png"


def _project(tmp_path: Path, **data: object) -> tuple[ProjectPaths, dict]:
    raw = tiny_params_dict(data={"name": "photos", **data})
    raw["validation"]["max_bad_fraction"] = 0.9
    root = tmp_path / "project"
    root.mkdir(parents=True)
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    return ProjectPaths.at(root), raw


def _ingest_and_validate(paths: ProjectPaths, raw: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    run_stages(parse_params(raw), paths, "ingest", "validate")
    rejected = pd.read_parquet(paths.rejected) if paths.rejected.is_file() else pd.DataFrame()
    return read_manifest(paths.clean_manifest), rejected


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
        _save(name, data / "img" / f"{name}{_suffix(name)}")
        lines += [f"{caption}\timg/{name}{_suffix(name)}" for caption in captions]
    (data / "captions.tsv").write_text("\n".join(lines) + "\n")
    paths, raw = _project(tmp_path, source="tsv", path=str(data / "captions.tsv"))
    _check_all_photos_imported(paths, *_ingest_and_validate(paths, raw))


def test_csv_and_jsonl_with_named_columns_and_splits(tmp_path: Path) -> None:
    data = tmp_path / "table"
    records = []
    for i, (name, captions) in enumerate(CAPTIONS.items()):
        _save(name, data / "photos" / f"{name}{_suffix(name)}")
        records += [
            {"text": c, "file": f"photos/{name}{_suffix(name)}", "part": "val" if i < 2 else "train"}
            for c in captions
        ]
    pd.DataFrame(records).to_csv(data / "captions.csv", index=False)
    (data / "captions.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    columns = {"caption": "text", "image": "file", "split": "part"}
    for source in ("csv", "jsonl"):
        paths, raw = _project(
            tmp_path / source, source=source, path=str(data / f"captions.{source}"), columns=columns
        )
        clean, rejected = _ingest_and_validate(paths, raw)
        _check_all_photos_imported(paths, clean, rejected)
        assert (clean["split"] == "test").sum() == 4  # "val" maps to the test split


def test_coco(tmp_path: Path) -> None:
    data = tmp_path / "coco"
    annotations = {"train2017": {"images": [], "annotations": []}, "val2017": {"images": [], "annotations": []}}
    for i, (name, captions) in enumerate(CAPTIONS.items()):
        part = "val2017" if i == 0 else "train2017"
        file_name = f"{i:012d}{_suffix(name)}"
        _save(name, data / part / file_name)
        annotations[part]["images"].append({"id": i, "file_name": file_name})
        annotations[part]["annotations"] += [
            {"id": 100 * i + k, "image_id": i, "caption": c} for k, c in enumerate(captions)
        ]
    (data / "annotations").mkdir()
    for part, content in annotations.items():
        (data / "annotations" / f"captions_{part}.json").write_text(json.dumps(content))
    paths, raw = _project(tmp_path, source="coco", path=str(data))
    clean, rejected = _ingest_and_validate(paths, raw)
    _check_all_photos_imported(paths, clean, rejected)
    assert set(clean.loc[clean["split"] == "test", "caption"]) == set(CAPTIONS["astronaut"])


def test_reed_layout_with_class_splits(tmp_path: Path) -> None:
    data = tmp_path / "cub"
    for i, (name, captions) in enumerate(CAPTIONS.items()):
        class_name = f"{i:03d}.{name}"
        _save(name, data / "images" / class_name / f"{name}_0001{_suffix(name)}")
        (data / "text_c10" / class_name).mkdir(parents=True)
        (data / "text_c10" / class_name / f"{name}_0001.txt").write_text("\n".join(captions) + "\n")
    (data / "trainclasses.txt").write_text("\n".join(f"{i:03d}.{n}" for i, n in enumerate(CAPTIONS) if i >= 2))
    (data / "testclasses.txt").write_text("000.astronaut\n001.chelsea\n")
    paths, raw = _project(tmp_path, source="reed", path=str(data))
    clean, rejected = _ingest_and_validate(paths, raw)
    _check_all_photos_imported(paths, clean, rejected)
    assert set(clean.loc[clean["split"] == "test", "image_id"]) == {
        "000.astronaut/astronaut_0001",
        "001.chelsea/chelsea_0001",
    }


def test_imagefolder_with_split_directories(tmp_path: Path) -> None:
    data = tmp_path / "hf"
    for i, (name, captions) in enumerate(CAPTIONS.items()):
        split = "test" if i < 2 else "train"
        _save(name, data / split / f"{name}{_suffix(name)}")
        with (data / split / "metadata.jsonl").open("a") as handle:
            for caption in captions:
                handle.write(json.dumps({"file_name": f"{name}{_suffix(name)}", "text": caption}) + "\n")
    paths, raw = _project(tmp_path, source="imagefolder", path=str(data))
    clean, rejected = _ingest_and_validate(paths, raw)
    _check_all_photos_imported(paths, clean, rejected)
    assert clean["image_path"].str.startswith(("train/", "test/")).all()
    assert (clean["split"] == "test").sum() == 4


def test_decoded_photos_are_upright_and_in_colour(tmp_path: Path) -> None:
    data = tmp_path / "d"
    _save("hubble_deep_field", data / "rotated.jpg")
    _save("coffee", data / "rgba.png")
    (data / "c.tsv").write_text("rotated galaxies\trotated.jpg\ncoffee\trgba.png\n")
    paths, raw = _project(tmp_path, source="tsv", path=str(data / "c.tsv"))
    clean, _ = _ingest_and_validate(paths, raw)
    rotated = clean.set_index("image_path").loc["rotated.jpg"]
    assert (int(rotated["width"]), int(rotated["height"])) == (1000, 872)  # header says landscape
    validated = pd.read_parquet(paths.clean_manifest)
    assert len(validated) == 2


# ---- bad inputs -------------------------------------------------------------------------------------------


def _bad_tsv_corpus(data: Path) -> tuple[bytes, dict[int, str], set[int]]:
    """TSV bytes, the expected reason by line number, and the line numbers that are good."""
    data.mkdir(parents=True)
    _save("astronaut", data / "good.jpg")
    _save("chelsea", data / "cat.png")
    Image.new("RGB", (8, 8)).save(data / "tiny.png")
    Image.new("RGB", (400, 40)).save(data / "strip.png")
    Image.new("L", (3000, 3000)).save(data / "bomb.png")
    (data / "empty.png").write_bytes(b"")
    (data / "text.png").write_text("this is not an image")
    full = (data / "good.jpg").read_bytes()
    (data / "truncated.jpg").write_bytes(full[: len(full) // 3])
    lines: list[tuple[bytes, str | None]] = [
        (b"an astronaut\tgood.jpg", None),
        (b"a cat\tcat.png", None),
        (b"a second caption of the astronaut\tgood.jpg", None),
        (b"no tab on this line", "malformed line (no tab"),
        (b"one\ttoo\tmany", "malformed line (2 tabs"),
        (b"caf\xe9 au lait\tcat.png", "not valid UTF-8"),
        (b"   \tgood.jpg", "empty or whitespace caption"),
        (b"x" * 500 + b"\tgood.jpg", "caption of 500 characters exceeds 400"),
        (b"escaping\t../outside.png", "escapes the dataset root"),
        (b"absolute\t/etc/hostname", "escapes the dataset root"),
        (b"missing\tnowhere.png", "missing file"),
        (b"empty\tempty.png", "empty file"),
        (b"truncated\ttruncated.jpg", "truncated or corrupt"),
        (b"text\ttext.png", "not an image"),
        (b"bomb\tbomb.png", "decompression bomb"),
        (b"tiny\ttiny.png", "image too small (8x8"),
        (b"strip\tstrip.png", "degenerate aspect ratio 10.0"),
        (b"an astronaut\tgood.jpg", "duplicate of row 0"),
    ]
    body = b"\n".join(line for line, _ in lines) + b"\n"
    expected = {n: reason for n, (_, reason) in enumerate(lines, start=1) if reason}
    good = {n for n, (_, reason) in enumerate(lines, start=1) if reason is None}
    return body, expected, good


def _bad_tsv_project(tmp_path: Path) -> tuple[ProjectPaths, dict, dict[int, str], set[int]]:
    """A project over the bad-input TSV corpus: (paths, raw params, reason by line, good lines)."""
    data = tmp_path / "bad"
    body, expected, good = _bad_tsv_corpus(data)
    (data / "captions.tsv").write_bytes(body)
    paths, raw = _project(tmp_path, source="tsv", path=str(data / "captions.tsv"))
    raw["validation"]["max_pixels"] = 4_000_000
    (paths.root / "params.yaml").write_text(yaml.safe_dump(raw))
    return paths, raw, expected, good


def test_every_bad_row_is_rejected_with_its_reason_and_every_good_row_kept(tmp_path: Path) -> None:
    paths, raw, expected, good = _bad_tsv_project(tmp_path)
    clean, rejected = _ingest_and_validate(paths, raw)
    line_of = lambda row_id: int(row_id.rsplit("-", 1)[1])  # noqa: E731 - row ids are tsv-<line>
    reasons = {line_of(r): reason for r, reason in zip(rejected["id"], rejected["reason"], strict=True)}
    assert set(reasons) == set(expected)
    for line, reason in expected.items():
        assert reason in reasons[line], (line, reasons[line])
        assert "\n" not in reasons[line]
    assert {line_of(r) for r in clean["id"]} == good


def test_cli_quarantines_without_a_traceback_and_fails_past_the_threshold(tmp_path: Path) -> None:
    paths, raw, expected, _ = _bad_tsv_project(tmp_path)
    assert cli("ingest", cwd=paths.root).returncode == 0
    done = cli("validate", cwd=paths.root)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert f"{len(expected)} rejected" in done.stdout

    raw["validation"]["max_bad_fraction"] = 0.05
    (paths.root / "params.yaml").write_text(yaml.safe_dump(raw))
    done = cli("validate", cwd=paths.root)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "rows rejected" in errors[0] and "rejected.parquet" in errors[0]


def test_bad_jsonl_csv_coco_and_reed_records_become_rejected_rows(tmp_path: Path) -> None:
    data = tmp_path / "mixed"
    _save("astronaut", data / "a.jpg")
    (data / "c.jsonl").write_bytes(
        b'{"caption": "an astronaut", "image_path": "a.jpg"}\n{not json\n[1, 2]\n{"caption": "no image"}\n'
        b'{"caption": 7, "image_path": "a.jpg"}\n'
    )
    paths, raw = _project(tmp_path / "jsonl", source="jsonl", path=str(data / "c.jsonl"))
    clean, rejected = _ingest_and_validate(paths, raw)
    assert len(clean) == 1
    assert sorted(r.split(": ", 1)[1] for r in rejected["reason"]) == [
        "caption is int, not text",
        "missing 'image_path'",
        "not a JSON object",
        "not valid JSON (Expecting property name enclosed in double quotes)",
    ]

    (data / "c.csv").write_bytes(b'caption,image_path\nan astronaut,a.jpg\n"a, b",a.jpg,extra\n')
    paths, raw = _project(tmp_path / "csv", source="csv", path=str(data / "c.csv"))
    clean, rejected = _ingest_and_validate(paths, raw)
    assert len(clean) == 1 and rejected["reason"].str.contains("malformed row \\(3 fields").all()

    coco = tmp_path / "coco"
    (coco / "annotations").mkdir(parents=True)
    _save("astronaut", coco / "train2017" / "1.jpg")
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
    paths, raw = _project(tmp_path / "c", source="coco", path=str(coco))
    clean, rejected = _ingest_and_validate(paths, raw)
    assert len(clean) == 1 and "unknown image_id 9" in rejected["reason"].iloc[0]

    reed = tmp_path / "reed"
    _save("chelsea", reed / "images" / "cat" / "c1.png")
    (reed / "text" / "cat").mkdir(parents=True)
    (reed / "text" / "cat" / "c1.txt").write_bytes(b"a tabby cat\nna\xefve cat\n")
    paths, raw = _project(tmp_path / "r", source="reed", path=str(reed))
    clean, rejected = _ingest_and_validate(paths, raw)
    assert len(clean) == 1 and "c1.txt line 2: caption is not valid UTF-8" in rejected["reason"].iloc[0]


def test_a_dataset_that_cannot_be_read_fails_ingest_in_one_line(tmp_path: Path) -> None:
    paths, _ = _project(tmp_path, source="coco", path=str(tmp_path / "nowhere"))
    done = cli("ingest", cwd=paths.root)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no captions_*.json files (COCO layout expected)" in done.stderr


@pytest.mark.slow
def test_an_imported_dataset_goes_through_the_whole_pipeline(tmp_path: Path) -> None:
    from conftest import reset_mlflow

    data = tmp_path / "photos"
    lines = []
    for i in range(40):
        name = list(CAPTIONS)[i % len(CAPTIONS)]
        if i < len(CAPTIONS):
            _save(name, data / f"{name}{_suffix(name)}")
        lines += [f"{caption} ({i})\t{name}{_suffix(name)}" for caption in CAPTIONS[name]]
    (data / "c.tsv").write_text("\n".join(lines) + "\n")
    paths, raw = _project(tmp_path, source="tsv", path=str(data / "c.tsv"), test_fraction=0.5)
    reset_mlflow()
    stages = ("ingest", "validate", "embed", "train", "evaluate", "register")
    results = run_stages(parse_params(raw), paths, *stages)
    reset_mlflow()
    metrics = results["evaluate"].metrics
    assert metrics["fid_name"].startswith("fid_") and metrics[metrics["fid_name"]] > 0
    # No ground-truth attributes outside the synthetic set: alignment is R-precision.
    assert "attr_acc_heldout" not in metrics and metrics["alignment"] == metrics["r_precision"]
    assert 0 <= metrics["r_precision"] <= 1 and 0 <= metrics["r_precision_ceiling"] <= 1
    assert results["register"].promoted and results["register"].reason == "no champion yet"
