"""The synthetic default: procedural captioned shapes with ground-truth attributes.

One object (shape, color, size, position) on a plain background, rendered deterministically from a seed and
described by varied caption templates. Some color-shape combinations never appear in training; the `heldout`
split holds only those, so evaluation can ask whether the model composes a color and a shape it has seen
apart but never together. The attributes travel with every row, which makes an exact alignment metric possible.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from t2igan.config import SyntheticParams
from t2igan.data.splits import HELDOUT, SPLITS, TEST, TRAIN

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 210, 40),
    "purple": (140, 60, 190),
    "orange": (245, 135, 30),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond")
SIZES: dict[str, float] = {"small": 0.26, "large": 0.46}  # object extent as a share of the image side
POSITIONS: dict[str, tuple[float, float]] = {
    "left": (0.28, 0.5),
    "right": (0.72, 0.5),
    "top": (0.5, 0.28),
    "bottom": (0.5, 0.72),
    "center": (0.5, 0.5),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (242, 242, 242),
    "gray": (128, 128, 128),
    "black": (22, 22, 22),
}
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "color": tuple(COLORS),
    "shape": SHAPES,
    "size": tuple(SIZES),
    "position": tuple(POSITIONS),
    "background": tuple(BACKGROUNDS),
}

_SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big", "huge")}
_POSITION_PHRASES = {
    "left": ("on the left", "at the left side"),
    "right": ("on the right", "at the right side"),
    "top": ("at the top", "near the top edge"),
    "bottom": ("at the bottom", "near the bottom edge"),
    "center": ("in the center", "in the middle"),
}
_TEMPLATES = (
    "a {size} {color} {shape} {where} on a {background} background",
    "{background} background with a {size} {color} {shape} {where}",
    "there is a {color} {shape} {where}, it is {size}, the background is {background}",
    "an image of a {size} {color} {shape} {where} over {background}",
    "{where} sits a {size} {color} {shape} on {background}",
    "a {color} {shape}, {size}, placed {where} of a {background} canvas",
)

_SUPERSAMPLE = 4


@dataclass(frozen=True)
class SyntheticItem:
    """One rendered image and its captions, before it is written anywhere."""

    index: int
    split: str
    attributes: dict[str, str]
    captions: tuple[str, ...]
    image: Image.Image


def heldout_pairs(seed: int, per_color: int) -> frozenset[tuple[str, str]]:
    """Color-shape pairs kept out of training.

    A Latin-square pattern from a seeded shift holds out `per_color` shapes for every color, so every color
    and every shape is still seen in training, just never in the held-out combination.
    """
    if per_color == 0:
        return frozenset()
    shift = int(np.random.default_rng(seed).integers(len(SHAPES)))
    pairs = set()
    for color_index, color in enumerate(COLORS):
        for k in range(per_color):
            shape = SHAPES[(color_index + shift + k) % len(SHAPES)]
            pairs.add((color, shape))
    return frozenset(pairs)


def caption_for(attributes: dict[str, str], template: int, rng: np.random.Generator) -> str:
    """Render one caption of `attributes` with template number `template` and random synonyms."""
    size_words = _SIZE_WORDS[attributes["size"]]
    where_words = _POSITION_PHRASES[attributes["position"]]
    text = _TEMPLATES[template].format(
        size=size_words[int(rng.integers(len(size_words)))],
        color=attributes["color"],
        shape=attributes["shape"],
        where=where_words[int(rng.integers(len(where_words)))],
        background=attributes["background"],
    )
    text = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text)  # "an orange diamond", not "a orange"
    return text[0].upper() + text[1:]


def _jitter(color: tuple[int, int, int], rng: np.random.Generator, amount: int) -> tuple[int, int, int]:
    noise = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(v) for v in np.clip(np.array(color) + noise, 0, 255))  # type: ignore[return-value]


def render(attributes: dict[str, str], resolution: int, rng: np.random.Generator) -> Image.Image:
    """Draw the object at 4x and downsample, so that edges are anti-aliased like a photograph's."""
    side = resolution * _SUPERSAMPLE
    image = Image.new("RGB", (side, side), _jitter(BACKGROUNDS[attributes["background"]], rng, 10))
    draw = ImageDraw.Draw(image)
    cx, cy = POSITIONS[attributes["position"]]
    cx += float(rng.uniform(-0.04, 0.04))
    cy += float(rng.uniform(-0.04, 0.04))
    half = SIZES[attributes["size"]] * float(rng.uniform(0.9, 1.1)) / 2
    x0, y0, x1, y1 = ((cx - half) * side, (cy - half) * side, (cx + half) * side, (cy + half) * side)
    fill = _jitter(COLORS[attributes["color"]], rng, 18)
    shape = attributes["shape"]
    if shape == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=fill)
    elif shape == "square":
        inset = half * side * 0.1  # a square of equal area looks larger than the circle; shrink it a bit
        draw.rectangle((x0 + inset, y0 + inset, x1 - inset, y1 - inset), fill=fill)
    elif shape == "triangle":
        draw.polygon([(cx * side, y0), (x1, y1), (x0, y1)], fill=fill)
    elif shape == "diamond":
        draw.polygon([(cx * side, y0), (x1, cy * side), (cx * side, y1), (x0, cy * side)], fill=fill)
    else:  # pragma: no cover - ATTRIBUTES is closed
        raise ValueError(f"unknown shape {shape!r}")
    return image.resize((resolution, resolution), Image.Resampling.LANCZOS)


def _sample_attributes(rng: np.random.Generator, allowed: list[tuple[str, str]]) -> dict[str, str]:
    color, shape = allowed[int(rng.integers(len(allowed)))]
    return {
        "color": color,
        "shape": shape,
        "size": ATTRIBUTES["size"][int(rng.integers(len(SIZES)))],
        "position": ATTRIBUTES["position"][int(rng.integers(len(POSITIONS)))],
        "background": ATTRIBUTES["background"][int(rng.integers(len(BACKGROUNDS)))],
    }


def generate(params: SyntheticParams) -> Iterator[SyntheticItem]:
    """Yield every item of the dataset, the same ones for the same params, in a fixed order."""
    held = heldout_pairs(params.seed, params.heldout_per_color)
    every_pair = list(itertools.product(COLORS, SHAPES))
    seen = [pair for pair in every_pair if pair not in held]
    unseen = [pair for pair in every_pair if pair in held]
    counts = {
        TRAIN: params.num_train,
        TEST: params.num_test,
        HELDOUT: params.num_heldout if unseen else 0,
    }
    for split_number, split in enumerate(SPLITS):
        for index in range(counts[split]):
            # One generator per image, keyed by its split and number: an item does not depend on the other
            # splits, so growing num_train leaves the test and heldout images unchanged.
            rng = np.random.default_rng([params.seed, split_number, index])
            attributes = _sample_attributes(rng, unseen if split == HELDOUT else seen)
            templates = rng.permutation(len(_TEMPLATES))[: params.captions_per_image]
            captions = tuple(caption_for(attributes, int(t), rng) for t in templates)
            yield SyntheticItem(index, split, attributes, captions, render(attributes, params.resolution, rng))


def write_dataset(params: SyntheticParams, root: Path) -> list[dict[str, object]]:
    """Render the dataset under `root/images` and return one manifest row per caption."""
    from t2igan.data.manifest import manifest_row

    rows: list[dict[str, object]] = []
    for item in generate(params):
        relative = f"images/{item.split}/{item.index:06d}.png"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        item.image.save(root / relative, format="PNG")
        image_id = f"syn-{item.split}-{item.index:06d}"
        for k, caption in enumerate(item.captions):
            rows.append(
                manifest_row(
                    row_id=f"{image_id}-{k}",
                    image_id=image_id,
                    split=item.split,
                    caption=caption,
                    image_path=relative,
                    source="synthetic",
                    attributes=item.attributes,
                )
            )
    return rows
