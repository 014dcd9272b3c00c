"""Every seed an evaluation draws with, as an offset from `evaluate.seed`: in one table, so that no two metrics
draw the same rows or the same images by accident, and a change to one shows beside all the others.

Rows: which test (or held-out) rows a metric scores, a pandas sample seeded `evaluate.seed + offset`.
Images: the generation seed of the i-th scored image is `evaluate.seed + offset + i`.
"""

from __future__ import annotations

# Which rows are scored
FID_ROWS = 0  # FID and KID (one image per test image)
ATTRIBUTE_ROWS = 1  # the judge's held-out and seen rows
RETRIEVAL_ROWS = 2  # R-precision's test rows
DIVERSITY_ROWS = 3  # the captions drawn K times each, and the real images that fit them

# Which noise draws the images: 100,000 apart, so no metric's images are another's
FID_IMAGES = 0  # also the sample grid's: seed + k for its k-th seed per caption
ATTRIBUTE_IMAGES = 100_000
RETRIEVAL_IMAGES = 200_000
HARD_PROMPT_IMAGES = 300_000
DIVERSITY_IMAGES = 400_000
