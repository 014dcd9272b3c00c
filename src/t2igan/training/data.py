"""The training feed: images from the memory-mapped store, a caption embedding per image per step (and, for
word attention, that caption's token states, read from their memory-mapped file batch by batch).

Several captions of one image stay together: each step picks one of the image's captions at random (DF-GAN
does the same), so an epoch is an epoch over images, not captions. Every random choice is a function of
(seed, step), which makes a resumed run see exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import torch

from t2igan.data.manifest import read_clean_manifest
from t2igan.data.store import ImageStore, open_images
from t2igan.errors import DataError
from t2igan.gan.conditioning import Words
from t2igan.paths import ProjectPaths
from t2igan.pixels import to_network
from t2igan.text.embeddings import Embeddings, TokenStates, load_embeddings, load_token_states
from t2igan.text.tuning import TokenBatch

if TYPE_CHECKING:
    from t2igan.training.text_model import TrainableText


@dataclass(frozen=True)
class CaptionRows:
    """Each image's caption rows, as two flat arrays (CSR): `rows[offsets[i]:offsets[i + 1]]` are image i's."""

    images: np.ndarray  # [M] store index of each image, sorted
    offsets: np.ndarray  # [M + 1]
    rows: np.ndarray  # [captions] embedding rows, grouped by image

    @classmethod
    def of(cls, store_index: np.ndarray, rows: np.ndarray) -> CaptionRows:
        order = np.argsort(store_index, kind="stable")
        images, counts = np.unique(store_index[order], return_counts=True)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(images.astype(np.int64), offsets, rows[order].astype(np.int64))

    def __getitem__(self, image: int) -> np.ndarray:
        return self.rows[self.offsets[image] : self.offsets[image + 1]]

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class TrainingSet:
    store: ImageStore  # every clean image: uint8 [N, S, S, 3], memory-mapped or sharded
    store_index: np.ndarray  # [M] store rows of this split's images, sorted
    caption_rows: CaptionRows  # per image: its rows in `embeddings`
    embeddings: Embeddings
    tokens: TokenStates | None = None  # per-token states, rows as `embeddings` (word attention)

    @classmethod
    def load(cls, paths: ProjectPaths, split: str = "train", words: bool = False) -> TrainingSet:
        """`words`: also the captions' token states (memory-mapped).

        Only the manifest's split and store columns are read, into two integer arrays per image: what stays in
        memory is 16 bytes per caption, not a data frame of every caption's text (tens of MB per 100k).
        """
        manifest = read_clean_manifest(paths, columns=("split", "store_index"))
        embeddings = load_embeddings(paths.embeddings_dir, expected_rows=len(manifest))
        tokens = load_token_states(paths.embeddings_dir, len(manifest)) if words else None
        chosen = np.flatnonzero((manifest["split"] == split).to_numpy())
        if not len(chosen):
            raise DataError(f"{paths.clean_manifest}: no clean rows in split {split!r}")
        caption_rows = CaptionRows.of(manifest["store_index"].to_numpy()[chosen], chosen)
        del manifest
        return cls(open_images(paths), caption_rows.images, caption_rows, embeddings, tokens)

    def __len__(self) -> int:
        return len(self.store_index)

    @property
    def text_dim(self) -> int:
        return self.embeddings.dim

    @property
    def word_dim(self) -> int:
        return self.tokens.width if self.tokens is not None else 0

    def words(self, rows: np.ndarray) -> Words | None:
        """Token states of embedding `rows`, cut to the longest of them (None without token states)."""
        if self.tokens is None:
            return None
        return Words.from_padded(self.tokens.states[rows], self.tokens.lengths[rows])

    @property
    def image_size(self) -> int:
        return int(self.store.shape[1])


def stream_seed(seed: int, step: int, stream: int) -> int:
    """A 63-bit seed for one (run seed, step, purpose) triple."""
    return int(np.random.SeedSequence([seed, step, stream]).generate_state(1, dtype=np.uint64)[0] >> 1)


class BatchSampler:
    """Batch `step` = positions [step*B, (step+1)*B) of a stream of per-epoch permutations.

    Under data-parallel training each of `shards` processes takes every `shards`-th position of that global
    batch (`shard` is its rank), so together they see exactly the single-process batch.
    """

    def __init__(
        self,
        dataset: TrainingSet,
        batch_size: int,
        seed: int,
        shard: int = 0,
        shards: int = 1,
        text: TrainableText | None = None,
    ) -> None:
        """`text`: the adapted LM, when batches carry the captions' tokens instead of fixed vectors."""
        if batch_size % shards:
            raise DataError(f"train.batch_size {batch_size} does not split evenly over {shards} processes")
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.shard = shard
        self.shards = shards
        self.text = text

    @lru_cache(maxsize=2)  # noqa: B019 - a sampler lives as long as its run
    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset))

    def positions(self, step: int) -> np.ndarray:
        n = len(self.dataset)
        start, out = step * self.batch_size, []
        remaining = self.batch_size
        while remaining:
            epoch, offset = divmod(start, n)
            take = self._permutation(epoch)[offset : offset + remaining]
            out.append(take)
            remaining -= len(take)
            start += len(take)
        return np.concatenate(out)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor | TokenBatch, Words | None]:
        """(images in [-1, 1] as float NCHW, sentence embeddings or, for the adapted LM, tokens, and the
        captions' token states when the set has them) for `step`."""
        positions = self.positions(step)
        rng = np.random.default_rng(stream_seed(self.seed, step, 1))
        rows = [(choices := self.dataset.caption_rows[p])[int(rng.integers(len(choices)))] for p in positions]
        positions, rows = positions[self.shard :: self.shards], rows[self.shard :: self.shards]
        pixels = self.dataset.store[self.dataset.store_index[positions]]
        images = to_network(pixels)
        rows_array = np.asarray(rows, dtype=np.int64)
        words = self.dataset.words(rows_array)
        if self.text is not None:
            return images, self.text.tokens(rows_array), words
        return images, torch.from_numpy(self.dataset.embeddings.vectors[rows_array]), words
