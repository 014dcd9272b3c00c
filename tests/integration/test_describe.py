"""Image -> text: training images get their own captions back, from evaluation's cached retrieval encoder."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from t2igan.config import Params, load_params
from t2igan.data.manifest import read_clean_manifest
from t2igan.data.splits import TRAIN
from t2igan.data.store import open_store
from t2igan.describe.checks import MAX_TOP_K, BadDescribeRequest
from t2igan.describe.index import CaptionIndex, Match
from t2igan.errors import EXIT_BAD_INPUT, DataError
from t2igan.metrics.context import EvalContext
from t2igan.metrics.retrieval import retrieval_alignment
from t2igan.paths import ProjectPaths
from tests.support.project import cli, own_cache

# The retrieval encoder is trained (and its cache file counted) in the project's own cache.
pytestmark = [pytest.mark.slow, pytest.mark.own_cache]

TOP_K = 5
SAMPLED = 96  # training images described (of 160): enough that 3x chance is a robust bound
LINE = re.compile(r"^-?\d\.\d{3}  \S.*$")


def _params(paths: ProjectPaths) -> Params:
    return load_params(paths.root / "params.yaml")


def _png(pixels: np.ndarray, kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format=kind)
    return buffer.getvalue()


def _train(paths: ProjectPaths) -> pd.DataFrame:
    manifest = read_clean_manifest(paths)
    return manifest[manifest["split"] == TRAIN]


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns


@pytest.fixture(scope="module")
def trained_project(studio_project: tuple[ProjectPaths, Any]) -> ProjectPaths:
    """The studio's project: its data stages ran (describe needs nothing of its registry)."""
    return studio_project[0]


@pytest.fixture(scope="module")
def index(trained_project: ProjectPaths) -> CaptionIndex:
    """Loaded with no encoder cached (evaluation of the synthetic set has not needed one): this trains it, in
    the project's own cache (the module's tests are marked `own_cache`)."""
    with own_cache():
        shutil.rmtree(trained_project.cache_dir / "retrieval", ignore_errors=True)
        return CaptionIndex.load(_params(trained_project), trained_project)


def _assert_ranked(matches: list[Match], count: int, captions: set[str]) -> None:
    scores = [m.score for m in matches]
    assert len(matches) == count and len({m.caption for m in matches}) == count
    assert scores == sorted(scores, reverse=True) and all(-1.0 <= s <= 1.0 for s in scores)
    assert {m.caption for m in matches} <= captions


def test_training_images_are_described_by_their_own_captions_well_above_chance(
    trained_project: ProjectPaths, index: CaptionIndex
) -> None:
    train, store = _train(trained_project), open_store(trained_project.image_store)
    unique = set(train["caption"])
    assert index.captions == tuple(dict.fromkeys(train["caption"]))  # each training caption once, in order
    hits, chance = [], []
    for store_index, rows in list(train.groupby("store_index"))[:SAMPLED]:
        own = set(rows["caption"])
        matches = index.describe(_png(store[store_index]), TOP_K)
        _assert_ranked(matches, TOP_K, unique)
        hits.append(bool(own & {m.caption for m in matches}))
        # a random ranking puts none of the image's own captions in the top 5 with this probability
        chance.append(1 - math.comb(len(unique) - len(own), TOP_K) / math.comb(len(unique), TOP_K))
    rate, random_rate = float(np.mean(hits)), float(np.mean(chance))
    # measured on the tiny setup: 18 of these 96 images (0.19) against chance 0.03 (316 unique captions), 6.0x
    assert len(hits) == SAMPLED
    assert rate >= 3 * random_rate, (rate, random_rate)
    # The same pixels as an array describe the image exactly as its PNG does (PNG is lossless).
    first = int(train["store_index"].iloc[0])
    assert index.describe(np.array(store[first]), TOP_K) == index.describe(_png(store[first]), TOP_K)
    assert len(index.describe(_png(store[first]), 1)) == 1
    for lossy in ("JPEG", "WEBP"):  # the other upload formats, at another size (center-cropped, resized)
        larger = np.array(Image.fromarray(np.array(store[first])).resize((48, 40)))
        _assert_ranked(index.describe(_png(larger, lossy)), TOP_K, unique)
    _assert_ranked(index.describe(_png(store[first]), MAX_TOP_K), MAX_TOP_K, unique)


def test_the_encoder_is_evaluations_cached_file_trained_once(
    trained_project: ProjectPaths, index: CaptionIndex
) -> None:
    cached = sorted((trained_project.cache_dir / "retrieval").glob("*.safetensors"))
    assert cached == [index.encoder_path]
    written = _mtime(index.encoder_path)
    # Evaluation's R-precision (forced on: the synthetic set has attributes) finds and loads that same file.
    forced = load_params(trained_project.root / "params.yaml", {"evaluate.retrieval.enabled": "always"})
    figures = retrieval_alignment(EvalContext(forced, trained_project))
    assert set(figures) >= {"r_precision", "r_precision_ceiling"}
    assert sorted((trained_project.cache_dir / "retrieval").glob("*.safetensors")) == cached
    assert _mtime(index.encoder_path) == written
    # A second index loads it too, and ranks the same.
    again = CaptionIndex.load(_params(trained_project), trained_project)
    assert again.encoder_path == index.encoder_path and _mtime(index.encoder_path) == written
    pixels = np.array(open_store(trained_project.image_store)[0])
    assert again.describe(pixels) == index.describe(pixels)


def test_unusable_uploads_and_counts_are_refused_in_one_line(index: CaptionIndex) -> None:
    big = _png(np.zeros((40, 40, 3), np.uint8))
    refusals: list[tuple[bytes | np.ndarray, str]] = [
        (b"", "unusable image: empty file"),
        (b"GIF89a not really", "unusable image: not an image Pillow can read in a format accepted here"),
        (_png(np.zeros((8, 8, 3), np.uint8), "GIF"), "accepted here (PNG, JPEG, WEBP)"),
        (big[: len(big) // 2], "unusable image: truncated or corrupt image"),
        (np.zeros((4, 4), np.uint8), "expected a uint8 HxWx3 array, got uint8 of shape (4, 4)"),
        (np.zeros((4, 4, 3), np.float32), "expected a uint8 HxWx3 array, got float32"),
        (np.zeros((0, 4, 3), np.uint8), "empty image (0x4)"),
    ]
    for upload, reason in refusals:
        with pytest.raises(BadDescribeRequest, match=re.escape(reason)) as refused:
            index.describe(upload)
        assert "\n" not in str(refused.value)
    guarded = dataclasses.replace(index, max_pixels=1000)  # 40x40 = 1600 pixels
    with pytest.raises(BadDescribeRequest, match="decompression bomb: 40x40 exceeds 1000 pixels"):
        guarded.describe(big)
    with pytest.raises(BadDescribeRequest, match="too many pixels: 40x40 exceeds 1000"):
        guarded.describe(np.zeros((40, 40, 3), np.uint8))
    for top_k in (0, MAX_TOP_K + 1):
        with pytest.raises(BadDescribeRequest, match=f"top_k must be a whole number from 1 to 50, got {top_k}"):
            index.describe(big, top_k)
    assert issubclass(BadDescribeRequest, DataError) and BadDescribeRequest.exit_code == EXIT_BAD_INPUT


def test_the_cli_prints_scored_captions_and_one_line_errors(
    trained_project: ProjectPaths, index: CaptionIndex, tmp_path: Path
) -> None:
    store = open_store(trained_project.image_store)
    image = tmp_path / "upload.png"
    image.write_bytes(_png(store[0]))
    expected = index.describe(image.read_bytes(), 3)
    done = cli("describe", str(image), "--top-k", "3", cwd=trained_project.root)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3 and all(LINE.match(line) for line in lines), lines
    assert lines == [f"{m.score:.3f}  {m.caption}" for m in expected]

    listed = cli("describe", str(image), "--top-k", "2", "--json", cwd=trained_project.root)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {"caption": m.caption, "score": pytest.approx(m.score, abs=1e-6)} for m in expected[:2]
    ]

    # A refusal is one line and exit code 2 (which uploads are refused: test_unusable_uploads_...).
    nothing = tmp_path / "fresh"
    nothing.mkdir()
    (nothing / "params.yaml").write_text((trained_project.root / "params.yaml").read_text())
    failed = cli("describe", str(image), "--project", str(nothing), cwd=tmp_path)
    assert failed.returncode == 2 and failed.stdout == ""
    errors = failed.stderr.strip().splitlines()
    message = (
        f"t2igan describe: error: {nothing}/data/clean/manifest.parquet: not found: the pipeline has not run"
    )
    assert len(errors) == 1 and errors[0].startswith(message), failed.stderr
    assert "run `dvc repro`" in errors[0]
