"""The content-addressed caches: a caption is encoded once per encoder fingerprint."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from t2igan.text.cache import EmbeddingCache, TokenCache


def test_cache_round_trip_and_persistence(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, "abc")
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    cache.put(["one", "two"], vectors, [4, 7])
    assert cache.missing(["two", "three", "three"]) == ["three"]
    reopened = EmbeddingCache(tmp_path, "abc")
    np.testing.assert_array_equal(reopened.get(["two", "one"]), vectors[::-1])
    assert reopened.token_counts(["two", "one"]) == [7, 4]  # what the length limit is checked against
    assert len(EmbeddingCache(tmp_path, "other")) == 0


def test_token_states_are_ragged_and_persist(tmp_path: Path) -> None:
    tokens = TokenCache(tmp_path, "abc")
    short, long = np.ones((2, 3), np.float16), np.full((5, 3), 2, np.float16)
    tokens.put(["short", "long"], [short, long])
    reopened = TokenCache(tmp_path, "abc")
    assert reopened.missing(["long", "new"]) == ["new"]
    np.testing.assert_array_equal(reopened.get("long"), long)
    np.testing.assert_array_equal(reopened.get("short"), short)
