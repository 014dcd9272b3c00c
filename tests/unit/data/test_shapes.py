"""The synthetic default: deterministic, captioned, with held-out combinations kept out of training."""

from __future__ import annotations

import itertools

import numpy as np

from t2igan.config import SyntheticParams
from t2igan.data import shapes

SMALL = SyntheticParams(num_train=120, num_test=30, num_heldout=30, resolution=32, seed=3)


def _items(params: SyntheticParams) -> list[shapes.SyntheticItem]:
    return list(shapes.generate(params))


def test_same_seed_same_pixels_and_captions_other_seed_differs() -> None:
    first, second = _items(SMALL), _items(SMALL)
    other = _items(SMALL.model_copy(update={"seed": 4}))
    assert [i.captions for i in first] == [i.captions for i in second]
    assert all(
        np.array_equal(np.asarray(a.image), np.asarray(b.image)) for a, b in zip(first, second, strict=True)
    )
    assert [i.attributes for i in first] != [i.attributes for i in other]


def test_heldout_pairs_never_reach_train_or_test_and_every_color_and_shape_is_still_seen() -> None:
    held = shapes.heldout_pairs(SMALL.seed, SMALL.heldout_per_color)
    assert len(held) == len(shapes.COLORS) * SMALL.heldout_per_color
    items = _items(SMALL.model_copy(update={"num_train": 600}))
    for item in items:
        pair = (item.attributes["color"], item.attributes["shape"])
        assert (pair in held) == (item.split == "heldout")
    seen = {(i.attributes["color"], i.attributes["shape"]) for i in items if i.split == "train"}
    assert {c for c, _ in seen} == set(shapes.COLORS)
    assert {s for _, s in seen} == set(shapes.SHAPES)
    assert seen == set(itertools.product(shapes.COLORS, shapes.SHAPES)) - held


def test_captions_state_color_and_shape_and_differ_per_image() -> None:
    for item in _items(SMALL)[:40]:
        assert len(item.captions) == SMALL.captions_per_image
        assert len(set(item.captions)) == SMALL.captions_per_image
        for caption in item.captions:
            words = caption.lower()
            assert item.attributes["color"] in words and item.attributes["shape"] in words
            assert item.attributes["background"] in words


def test_growing_the_training_split_leaves_test_and_heldout_images_unchanged() -> None:
    small = [i for i in _items(SMALL) if i.split != "train"]
    large = [i for i in _items(SMALL.model_copy(update={"num_train": 200})) if i.split != "train"]
    assert [(i.split, i.index, i.captions) for i in small] == [(i.split, i.index, i.captions) for i in large]


def test_rendered_object_has_the_stated_color_where_the_caption_puts_it() -> None:
    attributes = {
        "color": "blue",
        "shape": "square",
        "size": "large",
        "position": "left",
        "background": "white",
    }
    image = np.asarray(shapes.render(attributes, 64, np.random.default_rng(0))).astype(int)
    left, right = image[28:36, 14:22].mean((0, 1)), image[28:36, 50:58].mean((0, 1))
    assert np.abs(left - shapes.COLORS["blue"]).max() < 30
    assert np.abs(right - shapes.BACKGROUNDS["white"]).max() < 20
