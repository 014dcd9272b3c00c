"""FID: torch-fidelity's reference values, exactly zero against itself, torchmetrics' value elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from t2igan.metrics.fid import frechet_distance, metric_name
from tests.support.fid_reference import expected_fids
from tests.support.torchmetrics_reference import Precomputed


def test_metric_name_carries_the_sample_count() -> None:
    assert (metric_name(2000), metric_name(1000), metric_name(500)) == ("fid_2k", "fid_1k", "fid_500")
    assert metric_name(24, "kid") == "kid_24"


@pytest.mark.slow
def test_fid_matches_torch_fidelity_reference_values(reference_features: dict[str, np.ndarray]) -> None:
    expected = expected_fids()
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


def test_frechet_distance_agrees_with_torchmetrics_and_is_exact_at_zero() -> None:
    from torchmetrics.image.fid import FrechetInceptionDistance

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
    with pytest.raises(ValueError, match="2 samples per side"):
        frechet_distance(real[:1], fake)
