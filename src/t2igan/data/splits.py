"""The splits a manifest row can be in, and the names datasets use for them.

train: what the GAN learns from; test: seen attribute combinations, never trained on (FID's reference);
heldout: the synthetic set's unseen color-shape combinations (does the model compose?).
"""

from __future__ import annotations

import hashlib
from typing import Final

TRAIN: Final = "train"
TEST: Final = "test"
HELDOUT: Final = "heldout"
SPLITS: Final = (TRAIN, TEST, HELDOUT)
MIN_TEST_IMAGES: Final = 2  # FID and KID compare two sets: each needs two images at least

# Names datasets give their splits; validation and dev sets are test data here.
ALIASES: Final = {
    "train": TRAIN,
    "training": TRAIN,
    "test": TEST,
    "testing": TEST,
    "val": TEST,
    "valid": TEST,
    "validation": TEST,
    "dev": TEST,
}


def normalize_split(value: object) -> str:
    """A dataset's split name as ours (`validation` -> `test`); unknown ones are kept for validate to refuse."""
    text = str(value).strip().lower()
    return ALIASES.get(text, text)


def hash_split(image_id: str, test_fraction: float) -> str:
    """A split that depends only on the image id: stable across runs, machines and dataset growth."""
    bucket = int.from_bytes(hashlib.sha256(image_id.encode("utf-8", "surrogatepass")).digest()[:8], "big")
    return TEST if bucket / 2**64 < test_fraction else TRAIN
