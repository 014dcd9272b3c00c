"""Training from a sharded store: each rank streams its own shards, shuffled, with exact resume.

Rank r of W reads shards r, r+W, r+2W, ... (disjoint; under `torchrun --nnodes 2` each node's ranks read
their own), from data/clean/images or a copy on object storage (`train.stream.url`). Each epoch the rank's
shards are put in a seeded order and taken `train.stream.shuffle_shards` at a time; the training images of
one such block are shuffled together. That block is the shuffle buffer: its shards' bytes are all this rank
holds, so memory does not grow with the dataset (WebDataset's own `shuffle(n)` buffer gives the same mixing
but makes the order depend on everything read before, which a resumed run could only reproduce by reading it
all again).

The stream is a pure function of (seed, rank, epoch): the sample at position p of a rank's stream is known
from the store's index and the manifest alone, without reading a shard. A step's position in the stream is
`step x per-rank batch`, and the checkpoint holds the step; so a run resumed after `kill -9` reads exactly the
samples an uninterrupted one would have, and its weights end bit-identical (tests/integration). Decoding runs
in `train.stream.loader_workers` DataLoader processes when asked (worker w prepares steps w, w+n, ...; the
DataLoader returns them in order), else in the training process.
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from t2igan.config import StreamParams
from t2igan.data.sharded_store import ShardedStore, ShardIndex, decode_png, read_shard
from t2igan.errors import DataError
from t2igan.gan.conditioning import Words
from t2igan.pixels import to_network
from t2igan.text.tuning import TokenBatch
from t2igan.training.data import BatchSampler, TrainingSet, stream_seed

if TYPE_CHECKING:
    from t2igan.training.text_model import TrainableText

log = logging.getLogger(__name__)

CAPTION_STREAM = 1  # stream_seed's purpose number for the caption choice (as BatchSampler's)


@dataclass(frozen=True)
class StreamLayout:
    """Which training images each of this rank's shards holds, and the seeded order they stream in."""

    index: ShardIndex
    members: tuple[np.ndarray, ...]  # per shard of the store: its training images (store indices), sorted
    mine: np.ndarray  # this rank's shard numbers
    seed: int
    rank: int
    block_shards: int
    _epochs: dict[int, tuple[tuple[np.ndarray, ...], np.ndarray]]  # the last epochs' blocks, computed once

    @classmethod
    def build(
        cls, index: ShardIndex, training: np.ndarray, seed: int, rank: int, world: int, block_shards: int
    ) -> StreamLayout:
        shard_of = index.shard_of(training)
        members = tuple(np.sort(training[shard_of == number]) for number in range(len(index.shards)))
        holding = [number for number, rows in enumerate(members) if len(rows)]
        if len(holding) < world:
            raise DataError(
                f"{index.root}: {world} ranks but only {len(holding)} shards hold training images: each rank "
                "needs shards of its own (lower data.shard_samples and run validate again)"
            )
        mine = np.array(holding[rank::world], dtype=np.int64)
        return cls(index, members, mine, seed, rank, block_shards, {})

    @functools.cached_property
    def epoch_length(self) -> int:
        return int(sum(len(self.members[number]) for number in self.mine))

    def _epoch(self, epoch: int) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """The epoch's blocks (store indices, shuffled within the block) and where each block starts."""
        if epoch not in self._epochs:
            if len(self._epochs) > 1:
                self._epochs.pop(min(self._epochs))
            self._epochs[epoch] = self._blocks(epoch)
        return self._epochs[epoch]

    def _blocks(self, epoch: int) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        order = np.random.default_rng([self.seed, self.rank, epoch]).permutation(self.mine)
        blocks = []
        for number, start in enumerate(range(0, len(order), self.block_shards)):
            rows = np.concatenate([self.members[s] for s in order[start : start + self.block_shards]])
            blocks.append(np.random.default_rng([self.seed, self.rank, epoch, number]).permutation(rows))
        starts = np.cumsum([0] + [len(block) for block in blocks[:-1]])
        return tuple(blocks), starts

    def images(self, first: int, count: int) -> np.ndarray:
        """Store indices at stream positions [first, first + count)."""
        out = np.empty(count, dtype=np.int64)
        for offset in range(count):
            epoch, position = divmod(first + offset, self.epoch_length)
            blocks, starts = self._epoch(epoch)
            number = int(np.searchsorted(starts, position, side="right") - 1)
            out[offset] = blocks[number][position - starts[number]]
        return out


class _ShardCache:
    """The shuffle buffer's bytes: the last few shards read (store index -> PNG), checked against the index."""

    def __init__(self, layout: StreamLayout) -> None:
        self.layout = layout
        self.held: OrderedDict[int, dict[int, bytes]] = OrderedDict()
        self.capacity = 2 * layout.block_shards  # a step may straddle two blocks

    def pixels(self, rows: np.ndarray) -> np.ndarray:
        size = self.layout.index.size
        out = np.empty((len(rows), size, size, 3), np.uint8)
        for position, (row, number) in enumerate(zip(rows, self.layout.index.shard_of(rows), strict=True)):
            out[position] = decode_png(self._shard(int(number))[int(row)])
        return out

    def _shard(self, number: int) -> dict[int, bytes]:
        if number in self.held:
            self.held.move_to_end(number)
        else:
            self.held[number] = read_shard(self.layout.index, number)
            while len(self.held) > self.capacity:
                self.held.popitem(last=False)
        return self.held[number]


class _StepImages(IterableDataset):
    """(step, store indices, pixels) for steps start .. steps-1; a DataLoader worker w of n takes w, w+n..."""

    def __init__(self, layout: StreamLayout, batch: int, start: int, steps: int) -> None:
        self.layout, self.batch, self.start, self.steps = layout, batch, start, steps

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        cache = _ShardCache(self.layout)
        for step in range(self.start + worker, self.steps, workers):
            rows = self.layout.images(step * self.batch, self.batch)
            yield step, rows, cache.pixels(rows)


def _unbatched(item: Any) -> Any:
    """Each item is a whole step already (batch_size=None): passed through as numpy, not collated."""
    return item


class StreamingSampler(BatchSampler):
    """BatchSampler's interface over this rank's stream: `batch(step)` for consecutive steps."""

    def __init__(
        self,
        dataset: TrainingSet,
        batch_size: int,
        seed: int,
        stream: StreamParams,
        rank: int = 0,
        world: int = 1,
        text: TrainableText | None = None,
    ) -> None:
        super().__init__(dataset, batch_size, seed, shard=rank, shards=world, text=text)
        store = dataset.store
        if not isinstance(store, ShardedStore):
            raise DataError("streaming needs a sharded image store (data.store: shards)")
        index = ShardIndex.read(stream.url) if stream.url else store.index
        if stream.url and index.shards != store.index.shards:
            raise DataError(f"{stream.url}: not a copy of this project's image store (its index.json differs)")
        self.layout = StreamLayout.build(index, dataset.store_index, seed, rank, world, stream.shuffle_shards)
        names = [str(index.shards[number]["name"]) for number in self.layout.mine]
        log.info(
            "rank %d of %d streams %d shards from %s (%d training images an epoch): %s",
            rank,
            world,
            len(names),
            index.root,
            self.layout.epoch_length,
            ",".join(names),
        )
        self.per_rank = batch_size // world
        self.loader_workers = stream.loader_workers
        self._feed: Iterator[tuple[int, np.ndarray, np.ndarray]] | None = None
        self._next_step = -1

    def _images(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        if self._feed is None or step != self._next_step:
            steps = np.iinfo(np.int32).max
            source = _StepImages(self.layout, self.per_rank, step, steps)
            self._feed = iter(
                DataLoader(source, batch_size=None, num_workers=self.loader_workers, collate_fn=_unbatched)
                if self.loader_workers
                else source
            )
        got, rows, pixels = next(self._feed)
        if got != step:
            raise RuntimeError(f"stream out of order: step {got} arrived for step {step}")
        self._next_step = step + 1
        return rows, pixels

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor | TokenBatch, Words | None]:
        """This rank's images of `step` from its stream, each with one of its captions chosen at random."""
        rows_in_store, pixels = self._images(step)
        positions = np.searchsorted(self.dataset.store_index, rows_in_store)
        rng = np.random.default_rng(stream_seed(self.seed, step, CAPTION_STREAM + 100 * self.shard))
        captions = np.array(
            [(choices := self.dataset.caption_rows[p])[int(rng.integers(len(choices)))] for p in positions],
            dtype=np.int64,
        )
        images = to_network(pixels)
        words = self.dataset.words(captions)
        if self.text is not None:
            return images, self.text.tokens(captions), words
        return images, torch.from_numpy(self.dataset.embeddings.vectors[captions]), words


def sampler_for(
    dataset: TrainingSet,
    batch_size: int,
    seed: int,
    stream: StreamParams,
    rank: int,
    world: int,
    text: TrainableText | None,
) -> BatchSampler:
    """The stream over this rank's shards for a sharded store, else random access to the memory-mapped one."""
    if isinstance(dataset.store, ShardedStore):
        return StreamingSampler(dataset, batch_size, seed, stream, rank, world, text)
    return BatchSampler(dataset, batch_size, seed, shard=rank, shards=world, text=text)
