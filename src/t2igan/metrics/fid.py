"""Fréchet Inception Distance over the TF-Inception features, in float64.

FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2). The usual way to get the last term (eigenvalues
or `sqrtm` of the 2048x2048 product, as torchmetrics and torch-fidelity do) takes square roots of the
rounding noise in the null space whenever a covariance is rank-deficient, i.e. whenever there are fewer
samples than feature dimensions: with 256 images a set's FID against itself comes out around 4e-5, not 0.
With centred, scaled features A (n1 x d) and B (n2 x d), S1 = A'A and S2 = B'B, and tr sqrt(S1 S2) equals
the sum of the singular values of A B' (an n1 x n2 matrix), which SVD gives accurately and never negative.
So small sets use that form; large ones (where the covariances have full rank and the noise is harmless)
use the symmetric d x d form. The metric name carries the sample count (`fid_1k`): FID is biased by it.
"""

from __future__ import annotations

import numpy as np
import torch


def metric_name(samples: int, metric: str = "fid") -> str:
    """`fid_2k` for 2000 samples, `fid_500` for 500: the count is part of what the number means."""
    return f"{metric}_{samples // 1000}k" if samples % 1000 == 0 else f"{metric}_{samples}"


def _centred(features: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, centred features scaled by 1/sqrt(n-1)), so that A'A is the unbiased covariance."""
    x = torch.from_numpy(np.asarray(features, dtype=np.float64))
    mean = x.mean(dim=0)
    return mean, (x - mean) / np.sqrt(len(x) - 1)


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def _trace_sqrt_product(a: torch.Tensor, b: torch.Tensor) -> float:
    """tr sqrt(A'A B'B) for centred features A, B."""
    n1, n2, d = a.shape[0], b.shape[0], a.shape[1]
    if n1 * n2 <= d * d:
        return float(torch.linalg.svdvals(a @ b.T).sum())
    root = _psd_sqrt(a.T @ a)
    inner = root @ (b.T @ b) @ root
    return float(torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0).sqrt().sum())


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two feature arrays [N, D] (float64 statistics)."""
    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"FID needs 2 samples per side, got {len(real)} real and {len(fake)} generated")
    mu1, a = _centred(real)
    mu2, b = _centred(fake)
    trace = float((a * a).sum() + (b * b).sum())  # tr(S1) + tr(S2)
    return float((mu1 - mu2).square().sum()) + trace - 2 * _trace_sqrt_product(a, b)
