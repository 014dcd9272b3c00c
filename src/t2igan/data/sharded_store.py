"""The image store as WebDataset shards, for data beyond one file: `data/clean/images/` holds `000000.tar`, ...
(each `shard_samples` images, the last one fewer) and `index.json` (image size, samples and sha256 per shard).

A sample is `{store index:09d}.png`: the clean image's pixels, losslessly (the same array the one-file store
holds), in a tar written with fixed owners and times, so the same images always give the same bytes. DVC
tracks the directory file by file: `dvc push` after a change uploads only the shards whose bytes changed.
Each shard is one task (t2igan.data.tasks) that returns the tar's bytes; this process writes them, in order.

`ShardedStore` reads it back with the one-file store's interface (`store[rows]`, `shape`) for evaluation and
the metrics, a shard at a time; training streams it instead (t2igan.training.stream).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import fsspec
import numpy as np
from PIL import Image
from webdataset.writer import TarWriter

from t2igan.data.shards import ShardSet, read_samples
from t2igan.data.tasks import iter_tasks
from t2igan.errors import StageInputError
from t2igan.io import write_json

INDEX = "index.json"
FORMAT = "t2igan-image-shards/1"
IMAGE_MEMBER = "png"
PNG_LEVEL = 6  # zlib's default level: deterministic for a given zlib, and the usual size/speed balance


def shard_name(number: int) -> str:
    return f"{number:06d}.tar"


def sample_key(index: int) -> str:
    return f"{index:09d}"


def wants_shards(kind: str, count: int, size: int, array_max_gb: float) -> bool:
    """`data.store`: auto keeps one array up to `array_max_gb` (default 4 GiB: COCO at 64², CUB at 256²), the
    size up to which one file is cheap to memory-map on every training node and to move whole with DVC; beyond
    it (COCO at 256² is 24 GB) each node would need the full copy and one changed image re-uploads all of it."""
    if kind != "auto":
        return kind == "shards"
    return count * size * size * 3 > array_max_gb * 2**30


def encode_shard(first: int, images: np.ndarray) -> bytes:
    """One shard's tar bytes: images[i] as sample `first + i` (one task)."""
    buffer = io.BytesIO()
    with TarWriter(buffer, user="", group="", mode=0o444, encoder=False, mtime=0.0) as writer:
        for offset, pixels in enumerate(images):
            png = io.BytesIO()
            Image.fromarray(pixels, mode="RGB").save(png, format="PNG", compress_level=PNG_LEVEL)
            writer.write({"__key__": sample_key(first + offset), IMAGE_MEMBER: png.getvalue()})
    return buffer.getvalue()


def _shard_tasks(
    images: Iterable[np.ndarray], count: int, per_shard: int, size: int
) -> Iterator[tuple[int, np.ndarray]]:
    iterator = iter(images)
    for first in range(0, count, per_shard):
        chunk = np.empty((min(per_shard, count - first), size, size, 3), np.uint8)
        for row in range(len(chunk)):
            chunk[row] = next(iterator)
        yield first, chunk


def _encode_task(item: tuple[int, np.ndarray]) -> bytes:
    return encode_shard(*item)


def write_sharded_store(
    directory: Path, images: Iterable[np.ndarray], *, count: int, size: int, per_shard: int, workers: int | None
) -> None:
    """Write `count` images as shards and their index into `directory` (a stage's staging directory)."""
    directory.mkdir(parents=True, exist_ok=True)
    chunks = _shard_tasks(images, count, per_shard, size)  # made as the window of tasks moves on
    total = -(-count // per_shard)
    encoded = iter_tasks(
        _encode_task, chunks, workers=workers, stage="validate", phase="write-shards", total=total
    )
    shards = []
    for number, data in enumerate(encoded):
        (directory / shard_name(number)).write_bytes(data)
        first = number * per_shard
        samples = min(per_shard, count - first)
        digest = hashlib.sha256(data).hexdigest()
        shards.append({"name": shard_name(number), "first": first, "samples": samples, "sha256": digest})
    write_json(directory / INDEX, {"format": FORMAT, "size": size, "count": count, "shards": shards})


@dataclass(frozen=True)
class ShardIndex:
    root: str  # the store's directory or URL
    size: int
    count: int
    shards: tuple[dict[str, object], ...]

    @classmethod
    def read(cls, root: str) -> ShardIndex:
        url = f"{root.rstrip('/')}/{INDEX}"
        try:
            with fsspec.open(url, "rt", encoding="utf-8") as handle:
                index = json.load(handle)
        except FileNotFoundError:
            raise StageInputError(f"{url}: sharded image store index not found (run validate first)") from None
        if index.get("format") != FORMAT:
            raise StageInputError(f"{url}: not a t2igan sharded image store (format {index.get('format')!r})")
        return cls(root, int(index["size"]), int(index["count"]), tuple(index["shards"]))

    @property
    def shard_set(self) -> ShardSet:
        return ShardSet(self.root, tuple(str(s["name"]) for s in self.shards))

    @property
    def firsts(self) -> np.ndarray:
        return np.array([int(str(s["first"])) for s in self.shards], dtype=np.int64)

    def shard_of(self, rows: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.firsts, rows, side="right") - 1


def read_shard(index: ShardIndex, number: int) -> dict[int, bytes]:
    """One shard's images (store index -> PNG bytes), its bytes checked against the index first: a copy on
    object storage that changed, or a shard cut short, is refused in one line rather than trained on."""
    entry = index.shards[number]
    url = index.shard_set.url(str(entry["name"]))
    try:
        with fsspec.open(url, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise StageInputError(f"{url}: shard of the image store not found") from None
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise StageInputError(f"{url}: shard differs from the index.json of its store (sha256): copy it again")
    return {
        int(sample.key): sample.members[IMAGE_MEMBER]
        for sample in read_samples(index.shard_set, str(entry["name"]), data)
        if sample.problem is None and IMAGE_MEMBER in sample.members
    }


def decode_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data), formats=("PNG",)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


class ShardedStore:
    """Random access to a sharded store with the array store's interface (`store[rows]`, `shape`, `len`)."""

    def __init__(self, index: ShardIndex) -> None:
        self.index = index
        self.shape = (index.count, index.size, index.size, 3)
        self.dtype = np.dtype(np.uint8)
        self.ndim = 4

    def __len__(self) -> int:
        return self.index.count

    @functools.lru_cache(maxsize=2)  # noqa: B019 - lives as long as its store; evaluation reads shard by shard
    def _shard(self, number: int) -> dict[int, bytes]:
        return read_shard(self.index, number)

    def __getitem__(self, rows: int | np.ndarray | list[int]) -> np.ndarray:
        single = np.isscalar(rows)
        wanted = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        out = np.empty((len(wanted), *self.shape[1:]), np.uint8)
        shard_numbers = self.index.shard_of(wanted)
        for number in np.unique(shard_numbers):
            members = self._shard(int(number))
            for position in np.flatnonzero(shard_numbers == number):
                row = int(wanted[position])
                if row not in members:
                    raise StageInputError(
                        f"{self.index.root}: image {row} missing from {shard_name(int(number))}"
                    )
                out[position] = decode_png(members[row])
        return out[0] if single else out


def copy_store(source: Path, destination: str) -> int:
    """Copy a sharded store (its shards, then its index, so a reader never finds an index whose shards are not
    all there yet) to a directory or an fsspec URL (`s3://bucket/stores/name`); the shards copied.

    For `train.stream.url`: every node then reads its shards from there, each checked against the index."""
    index = ShardIndex.read(str(source))
    fs, _, (target,) = fsspec.get_fs_token_paths(destination)
    fs.makedirs(target, exist_ok=True)
    for name in index.shard_set.names:
        fs.put_file(str(source / name), f"{target.rstrip('/')}/{name}")
    fs.put_file(str(source / INDEX), f"{target.rstrip('/')}/{INDEX}")
    return len(index.shards)
