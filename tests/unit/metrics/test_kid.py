"""KID: orders the reference sets, repeats exactly for a seed, leaves the caller's random stream alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from t2igan.metrics.kid import kernel_inception_distance


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


def test_kid_is_torchmetrics_estimator_on_the_same_subsets() -> None:
    import warnings

    from torchmetrics.image.kid import KernelInceptionDistance

    from tests.support.torchmetrics_reference import Precomputed

    rng = np.random.default_rng(0)
    for n_real, n_fake, dim, size in ((120, 90, 64, 50), (300, 260, 2048, 200)):
        real = rng.normal(size=(n_real, dim)).astype(np.float32)
        fake = (rng.normal(size=(n_fake, dim)) * 1.2 + 0.1).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            reference = KernelInceptionDistance(
                feature=Precomputed(dim, torch.float32), subsets=10, subset_size=size
            )
        reference.update(torch.from_numpy(real), real=True)
        reference.update(torch.from_numpy(fake), real=False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(3)
            expected = tuple(float(v) for v in reference.compute())
        assert kernel_inception_distance(real, fake, subsets=10, subset_size=size, seed=3) == pytest.approx(
            expected, rel=1e-6
        )
