"""Splits: datasets' names for them mapped to ours, and a hash split that never moves an image."""

from __future__ import annotations

from t2igan.data.splits import SPLITS, TEST, TRAIN, hash_split, normalize_split


def test_dataset_split_names_map_to_ours_and_unknown_ones_are_kept_for_validate() -> None:
    assert [normalize_split(name) for name in ("Train", " validation", "dev", "val", "testing")] == [
        TRAIN,
        TEST,
        TEST,
        TEST,
        TEST,
    ]
    assert normalize_split("holdout") == "holdout" and "holdout" not in SPLITS


def test_the_hash_split_is_a_function_of_the_image_id_near_the_asked_fraction() -> None:
    ids = [f"image-{i}" for i in range(4000)]
    splits = [hash_split(image_id, 0.1) for image_id in ids]
    assert splits == [hash_split(image_id, 0.1) for image_id in ids]
    assert 0.08 < splits.count(TEST) / len(ids) < 0.12
    # Raising the fraction only moves images into test, never out of it.
    wider = [hash_split(image_id, 0.2) for image_id in ids]
    assert all(w == TEST for s, w in zip(splits, wider, strict=True) if s == TEST)
