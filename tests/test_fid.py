"""FID reproduces torch-fidelity's reference values on the shared image sets (DESIGN.md, FID)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO
from t2igan.metrics.fid import FID, fid_between, metric_name
from t2igan.metrics.inception import InceptionFeatures, resize_bilinear_tf1


def _reference_dir() -> Path:
    for candidate in (REPO / "tests" / "data" / "fid-reference", REPO.parent / "shared" / "fid-reference"):
        if (candidate / "expected.json").is_file():
            return candidate
    pytest.fail("fid-reference image sets not found")


REFERENCE = _reference_dir()


def _load(name: str) -> np.ndarray:
    files = sorted((REFERENCE / name).glob("*.png"))
    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])


def _batches(images: np.ndarray, size: int = 16):
    for start in range(0, len(images), size):
        yield images[start : start + size]


@pytest.fixture(scope="module")
def features() -> InceptionFeatures:
    return InceptionFeatures()


def test_tf1_bilinear_uses_no_half_pixel_offset() -> None:
    image = torch.tensor([[[[0.0, 10.0]]]])  # 1x2, upsampled to 1x4 columns
    out = resize_bilinear_tf1(image.expand(1, 1, 2, 2).contiguous(), 4)
    # source x = dst * 2/4 -> 0, 0.5, 1, 1.5 (clamped to the last pixel)
    assert out[0, 0, 0].tolist() == [0.0, 5.0, 10.0, 10.0]


def test_features_match_the_reference_vectors(features: InceptionFeatures) -> None:
    expected = np.load(REFERENCE / "features_rects_a_first4.npy")
    images = torch.from_numpy(_load("rects_a")[:4]).permute(0, 3, 1, 2)
    ours = features(images).double().numpy()
    assert ours.shape == (4, 2048)
    assert np.abs(ours - expected).max() / np.abs(expected).max() < 1e-4


def test_metric_name_carries_the_sample_count() -> None:
    assert (metric_name(2000), metric_name(1000), metric_name(500)) == ("fid_2k", "fid_1k", "fid_500")


@pytest.mark.slow
def test_fid_matches_torch_fidelity_reference_values(features: InceptionFeatures, tmp_path: Path) -> None:
    expected = json.loads((REFERENCE / "expected.json").read_text())["fid"]
    rects_a = _load("rects_a")
    fid = FID(features)
    cache = tmp_path / "real.pt"
    assert fid.load_or_add_real(cache, _batches(rects_a)) is False
    fid.add(_batches(_load("rects_b")), real=False)
    value = fid.compute()
    assert abs(value / expected["rects_a|rects_b"] - 1) < 1e-3

    # A second FID with the cached real side computes only the generated side and agrees.
    again = FID(features)
    assert again.load_or_add_real(cache, iter(())) is True
    again.add(_batches(_load("noise_48")), real=False)
    assert abs(again.compute() / expected["rects_a|noise_48"] - 1) < 1e-3

    # A set against itself is at distance zero.
    assert abs(fid_between(_batches(rects_a[:64]), _batches(rects_a[:64]), features)) < 1e-3
