"""The sample grid: fixed captions x fixed seeds, the picture every evaluation of every model shows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from t2igan.data.fixed_captions import grid_rows
from t2igan.gan.sampling import generate
from t2igan.metrics import seeds
from t2igan.metrics.context import EvalContext


@dataclass(frozen=True)
class Grid:
    captions: list[str]
    images: np.ndarray  # uint8 NHWC, `seeds` images per caption, caption by caption
    seeds: int


def sample_grid(context: EvalContext) -> Grid:
    """This evaluation's grid (drawn once: the report shows it, the memorization check reads it)."""
    return context.shared("grid", lambda: _draw(context))


def _draw(context: EvalContext) -> Grid:
    cfg = context.cfg
    captions, index = grid_rows(context.paths, cfg.grid_captions)
    first = cfg.seed + seeds.FID_IMAGES
    grid_seeds = [first + s for _ in captions for s in range(cfg.grid_seeds)]
    images = generate(context.generator, context.conditioning(index).repeat(cfg.grid_seeds), grid_seeds)
    return Grid(captions, images, cfg.grid_seeds)
