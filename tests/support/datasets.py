"""Datasets for the import and validation tests: real photos in every layout, and a corpus of bad inputs.

The photos come from scikit-image's bundled samples, saved in the modes and formats real datasets have
(RGB JPEG, grayscale, palette, RGBA, CMYK, 16-bit, EXIF-rotated).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skimage.data as skimage_data
import yaml
from PIL import Image

from t2igan.config import parse_params
from t2igan.data.manifest import read_manifest
from t2igan.paths import ProjectPaths
from tests.support.project import run_stages, tiny_params_dict

CAPTIONS = {
    "astronaut": ["an astronaut in a white suit", "a woman in a space suit holding a helmet"],
    "chelsea": ["a ginger cat looking sideways", "a tabby cat on a blanket"],
    "coffee": ["a cup of coffee on a saucer", "latte art in a white cup"],
    "rocket": ["a rocket on the launch pad", "a space shuttle before launch"],
    "camera": ["a man with a camera on a tripod", "a black and white photo of a cameraman"],
    "hubble_deep_field": ["galaxies in deep space", "a field of distant galaxies"],
}


def save_photo(name: str, path: Path) -> None:
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


def photo_suffix(name: str) -> str:
    return ".jpg" if name in ("astronaut", "rocket", "hubble_deep_field") else ".png"


def photo_project(tmp_path: Path, **data: object) -> tuple[ProjectPaths, dict[str, Any]]:
    """A project over a photo dataset. Where the dataset has no split, nearly every image goes to test:
    these datasets are a handful of images, and validate refuses one with fewer than two test images."""
    raw = tiny_params_dict(data={"name": "photos", "test_fraction": 0.99, **data})
    raw["validation"]["max_bad_fraction"] = 0.9
    root = tmp_path / "project"
    root.mkdir(parents=True)
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    return ProjectPaths.at(root), raw


def ingest_and_validate(paths: ProjectPaths, raw: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    run_stages(parse_params(raw), paths, "ingest", "validate")
    rejected = pd.read_parquet(paths.rejected) if paths.rejected.is_file() else pd.DataFrame()
    return read_manifest(paths.clean_manifest), rejected


def bad_tsv_corpus(data: Path) -> tuple[bytes, dict[int, str], set[int]]:
    """TSV bytes, the expected reason by line number, and the line numbers that are good."""
    data.mkdir(parents=True)
    save_photo("astronaut", data / "good.jpg")
    save_photo("chelsea", data / "cat.png")
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


def bad_tsv_project(tmp_path: Path) -> tuple[ProjectPaths, dict[str, Any], dict[int, str], set[int]]:
    """A project over the bad-input TSV corpus: (paths, raw params, reason by line, good lines)."""
    data = tmp_path / "bad"
    body, expected, good = bad_tsv_corpus(data)
    (data / "captions.tsv").write_bytes(body)
    paths, raw = photo_project(tmp_path, source="tsv", path=str(data / "captions.tsv"))
    raw["validation"]["max_pixels"] = 4_000_000
    (paths.root / "params.yaml").write_text(yaml.safe_dump(raw))
    return paths, raw, expected, good
