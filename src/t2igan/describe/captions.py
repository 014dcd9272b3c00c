"""The captions an image can be described with: each unique training caption once, with its unit embedding.

A caption shared by several images (or repeated for one) would otherwise fill several of the top places with
the same text. Only training captions: they are what the encoder was fitted to, and test captions stay unseen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def unique_captions(train: pd.DataFrame, text: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """(captions in manifest order, float32 [len, dim] unit vectors): the first row's embedding of each.

    `train` is the clean manifest's training rows, indexed by embedding row (a row of `text`).
    """
    first = train.drop_duplicates("caption", keep="first")
    vectors = np.asarray(text[first.index.to_numpy()], dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return tuple(first["caption"].astype(str)), vectors / np.maximum(norms, 1e-12)
