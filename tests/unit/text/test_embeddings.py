"""The embeddings files: read back only when they line up with the clean manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from t2igan.errors import StageInputError
from t2igan.text.embeddings import load_embeddings, read_encoder_record, write_vectors


def test_vectors_and_their_encoder_record_round_trip(tmp_path: Path) -> None:
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    write_vectors(tmp_path, vectors, {"fingerprint": "abc", "dim": 3})
    loaded = load_embeddings(tmp_path, expected_rows=4)
    np.testing.assert_array_equal(loaded.vectors, vectors)
    assert (loaded.fingerprint, loaded.dim) == ("abc", 3) and read_encoder_record(tmp_path)["dim"] == 3


def test_a_mismatch_with_the_manifest_or_missing_files_say_which_stage_to_run(tmp_path: Path) -> None:
    with pytest.raises(StageInputError, match="run `t2igan embed` first"):
        load_embeddings(tmp_path, expected_rows=4)
    write_vectors(tmp_path, np.zeros((3, 2), np.float32), {"fingerprint": "abc"})
    with pytest.raises(StageInputError, match="3 embeddings for 4 manifest rows"):
        load_embeddings(tmp_path, expected_rows=4)
