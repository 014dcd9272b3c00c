"""FID and KID: torch-fidelity's reference values reproduced, sane orderings, a user-supplied Inception file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO
from t2igan.errors import ConfigError
from t2igan.metrics.features import cached_features, extract
from t2igan.metrics.fid import fid_between, frechet_distance, metric_name
from t2igan.metrics.inception import (
    INCEPTION_SIZE,
    InceptionFeatures,
    default_inception_path,
    resize_bilinear_tf1,
)
from t2igan.metrics.kid import kernel_inception_distance


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


@pytest.fixture(scope="module")
def reference_features(features: InceptionFeatures) -> dict[str, np.ndarray]:
    return {name: extract(features, _batches(_load(name))) for name in ("rects_a", "rects_b", "noise_48")}


@pytest.mark.slow
def test_fid_matches_torch_fidelity_reference_values(
    features: InceptionFeatures, reference_features: dict[str, np.ndarray]
) -> None:
    expected = json.loads((REFERENCE / "expected.json").read_text())["fid"]
    rects_a = reference_features["rects_a"]
    # 64x64 against 64x64, and 64x64 against 48x48: every image size the reference has.
    assert frechet_distance(rects_a, reference_features["rects_b"]) == pytest.approx(
        expected["rects_a|rects_b"], rel=1e-3
    )
    assert frechet_distance(rects_a, reference_features["noise_48"]) == pytest.approx(
        expected["rects_a|noise_48"], rel=1e-3
    )


@pytest.mark.slow
def test_fid_of_a_set_against_itself_is_zero(reference_features: dict[str, np.ndarray]) -> None:
    rects_a = reference_features["rects_a"]
    assert abs(frechet_distance(rects_a, rects_a)) < 1e-6
    assert abs(frechet_distance(rects_a[:64], rects_a[:64])) < 1e-6


@pytest.mark.slow
def test_kid_orders_sets_and_repeats_exactly(reference_features: dict[str, np.ndarray]) -> None:
    rects_a, rects_b, noise = (reference_features[n] for n in ("rects_a", "rects_b", "noise_48"))
    near, near_std = kernel_inception_distance(rects_a, rects_b, subsets=50, subset_size=100, seed=0)
    far, _ = kernel_inception_distance(rects_a, noise, subsets=50, subset_size=100, seed=0)
    itself, _ = kernel_inception_distance(rects_a, rects_a, subsets=50, subset_size=100, seed=0)
    assert near < far and abs(itself) < 0.01 * far
    assert near_std > 0
    # Seeded: the same figures again, and the caller's random stream untouched.
    torch.manual_seed(7)
    before = torch.rand(1)
    torch.manual_seed(7)
    assert kernel_inception_distance(rects_a, rects_b, subsets=50, subset_size=100, seed=0) == (near, near_std)
    assert torch.equal(torch.rand(1), before)
    # A subset larger than the sets is capped, not an error.
    assert kernel_inception_distance(rects_a[:40], rects_b[:40], subsets=5, subset_size=500, seed=0)[0] > 0


def test_real_features_are_cached_and_reused(features: InceptionFeatures, tmp_path: Path) -> None:
    images = _load("rects_a")[:8]
    cache = tmp_path / "real.npy"
    first, cached = cached_features(features, cache, lambda: _batches(images))
    assert not cached and first.shape == (8, 2048)
    again, cached = cached_features(features, cache, lambda: pytest.fail("the cache was not used"))
    assert cached and np.array_equal(first, again)
    assert fid_between(_batches(images), _batches(images), features) == pytest.approx(0.0, abs=1e-6)


class _NvidiaStyleDetector(torch.nn.Module):
    """The contract of NVIDIA's inception-2015-12-05.pt: uint8 NCHW of any size, resized inside.

    Built here around the packaged network (the NVIDIA file itself cannot be downloaded in tests); the
    point is that a file with that signature is driven the NVIDIA way and gives the standard features.
    """

    def __init__(self, network: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.network = network
        self.size = INCEPTION_SIZE

    def forward(self, img: torch.Tensor, return_features: bool = False, use_fp16: bool = False) -> torch.Tensor:
        x = resize_bilinear_tf1(img.to(torch.float32), self.size)
        features = self.network((x - 128.0) / 128.0).reshape(img.shape[0], -1)
        return features if return_features else features[:, :1008]


def test_a_user_supplied_nvidia_style_inception_file_is_used_by_path(
    features: InceptionFeatures, tmp_path: Path
) -> None:
    path = tmp_path / "inception-2015-12-05.pt"
    scripted = torch.jit.script(_NvidiaStyleDetector(torch.jit.load(str(default_inception_path()))))
    scripted.save(str(path))
    user = InceptionFeatures(path)
    assert user.resizes_inside and not features.resizes_inside
    assert user.identity != features.identity  # never shares a cache entry with the default network
    images = torch.from_numpy(_load("rects_a")[:2]).permute(0, 3, 1, 2)
    expected = np.load(REFERENCE / "features_rects_a_first4.npy")[:2]
    ours = user(images).double().numpy()
    assert np.abs(ours - expected).max() / np.abs(expected).max() < 1e-4


def test_a_missing_or_bogus_inception_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        InceptionFeatures(tmp_path / "absent.pt")
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a torchscript archive")
    with pytest.raises(ConfigError, match="not a TorchScript Inception network") as caught:
        InceptionFeatures(bogus)
    assert "\n" not in str(caught.value)


def test_frechet_distance_agrees_with_torchmetrics_and_is_exact_at_zero() -> None:
    from torchmetrics.image.fid import FrechetInceptionDistance

    from t2igan.metrics.features import Precomputed

    rng = np.random.default_rng(0)
    for n_real, n_fake, dim in ((300, 200, 64), (3000, 2500, 64), (120, 80, 512)):
        mixing = rng.normal(size=(dim, dim)) / np.sqrt(dim)
        real = (rng.normal(size=(n_real, dim)) @ mixing).astype(np.float32) + 0.5
        fake = (rng.normal(size=(n_fake, dim)) @ mixing * 1.3).astype(np.float32)
        reference = FrechetInceptionDistance(feature=Precomputed(dim))
        reference.update(torch.from_numpy(real), real=True)
        reference.update(torch.from_numpy(fake), real=False)
        assert frechet_distance(real, fake) == pytest.approx(float(reference.compute()), rel=1e-6)
        # Fewer samples than dimensions (rank-deficient covariance) included: exactly zero against itself.
        assert abs(frechet_distance(real, real)) < 1e-9
