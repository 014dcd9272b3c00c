"""torch-fidelity's reference image sets and values (tests/data/fid-reference, from ../shared/fid-reference)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from t2igan.metrics.rows import INCEPTION_BATCH
from tests.support.project import REPO


def _reference_dir() -> Path:
    for candidate in (REPO / "tests" / "data" / "fid-reference", REPO.parent / "shared" / "fid-reference"):
        if (candidate / "expected.json").is_file():
            return candidate
    raise FileNotFoundError("fid-reference image sets not found in tests/data or ../shared")


REFERENCE = _reference_dir()
SETS = ("rects_a", "rects_b", "noise_48")


def load_set(name: str) -> np.ndarray:
    """uint8 NHWC images of one reference set."""
    files = sorted((REFERENCE / name).glob("*.png"))
    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])


def batches(images: np.ndarray, size: int = INCEPTION_BATCH) -> Iterator[np.ndarray]:
    """In evaluation's own batch size (the fastest on a CPU)."""
    for start in range(0, len(images), size):
        yield images[start : start + size]


def expected_fids() -> dict[str, float]:
    fids: dict[str, float] = json.loads((REFERENCE / "expected.json").read_text())["fid"]
    return fids


def expected_features() -> np.ndarray:
    """float64 [4, 2048]: pool3 features of rects_a's first four images."""
    return np.load(REFERENCE / "features_rects_a_first4.npy")
