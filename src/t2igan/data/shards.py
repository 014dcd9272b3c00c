"""WebDataset shards: where a set of them is, and their samples, read safely from local disk or object storage.

A shard is a tar file whose members are grouped into samples by key (`KEY.jpg`, `KEY.txt`, `KEY.json`), the
layout img2dataset writes and the `webdataset` library reads. `data.path` names the set as a directory (every
`*.tar` in it), a brace pattern (`shards/{00000..00099}.tar`, expanded with braceexpand as webdataset does) or
an fsspec URL (`s3://bucket/prefix/` or `s3://bucket/prefix/{00000..00099}.tar`); object storage is read
through fsspec (s3fs reads the endpoint and keys from the usual `AWS_*` variables and `FSSPEC_S3_*`).

Shards are untrusted input, read with webdataset's tar iterator. A member that cannot be read (a shard cut
short mid-member, a corrupt header) costs that sample and the rest of the shard, reported as one sample with
the reason; the samples before it are kept. A key that is a path escaping the shard (`../x`, `/etc/x`) is a
sample with that problem, never a file name. A member is named `SHARD#MEMBER` in the manifest (`image_path`).
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import fsspec
from braceexpand import braceexpand
from webdataset.tariterators import base_plus_ext, tar_file_iterator

from t2igan.errors import DataError

SHARD_SOURCE = "webdataset"  # data.source of a dataset read from shards
SHARD_SUFFIX = ".tar"
MEMBER_SEPARATOR = "#"  # SHARD#MEMBER: the one place a shard's member is named


@dataclass(frozen=True)
class ShardSet:
    """Shards as names relative to one root (a local directory or a URL prefix), in order."""

    root: str
    names: tuple[str, ...]

    def url(self, name: str) -> str:
        return posixpath.join(self.root, name) if "://" in self.root else str(Path(self.root, name))


@dataclass
class Sample:
    """One key's members (extension -> bytes), or why the key cannot be used."""

    shard: str
    key: str
    members: dict[str, bytes] = field(default_factory=dict)
    problem: str | None = None

    def where(self) -> str:
        return f"shard {self.shard} key {self.key!r}"


def member_ref(shard: str, member: str) -> str:
    return f"{shard}{MEMBER_SEPARATOR}{member}"


def split_ref(ref: str) -> tuple[str, str]:
    """(shard, member) of a `SHARD#MEMBER` reference."""
    shard, separator, member = ref.rpartition(MEMBER_SEPARATOR)
    if not separator or not shard.endswith(SHARD_SUFFIX):
        raise DataError(f"{ref!r}: not a shard member reference (SHARD.tar#MEMBER)")
    return shard, member


def _split_pattern(path: str) -> tuple[str, str]:
    """(root, pattern relative to it): the root is the longest leading part without a brace."""
    head = path.split("{", 1)[0]
    root = head.rsplit("/", 1)[0] if "/" in head else "."
    return root, path[len(root) + 1 :] if root != "." else path


def locate(path: str) -> ShardSet:
    """The shards `path` names (a directory, a brace pattern or a URL); none is refused in one line."""
    remote = "://" in path
    if "{" in path:
        root, pattern = _split_pattern(path if remote else str(Path(path).expanduser()))
        names = tuple(braceexpand(pattern))
    else:
        root = path.rstrip("/") if remote else str(Path(path).expanduser())
        names = _listed(path, root)
    if not names:
        raise DataError(f"{path}: no {SHARD_SUFFIX} shards found (data.path)")
    return ShardSet(root if remote else str(Path(root).resolve()), names)


def _listed(path: str, root: str) -> tuple[str, ...]:
    """The shards under a directory or prefix, by name relative to it; a listing the store refuses (no
    credentials, no such bucket) is one line naming the path, not a traceback."""
    try:
        fs, _, (location,) = fsspec.get_fs_token_paths(root)
        if not fs.isdir(location):
            raise DataError(f"{path}: not a directory of {SHARD_SUFFIX} shards (data.path)")
        found = fs.find(location)
    except DataError:
        raise
    except Exception as exc:  # fsspec backends raise their own types (botocore's NoCredentialsError...)
        raise DataError(f"{path}: cannot list the shards ({type(exc).__name__}: {exc})") from None
    return tuple(
        sorted(posixpath.relpath(f, location) for f in found if f.endswith(SHARD_SUFFIX) and "/." not in f)
    )


def _key_problem(key: str) -> str | None:
    parts = key.split("/")
    if key.startswith("/") or ".." in parts or "\\" in key:
        return "key is a path outside the shard"
    return None


def _read_members(source: str | BinaryIO, shard: str) -> Iterator[tuple[str, bytes] | Sample]:
    """(member name, bytes) in tar order, from a URL or an open stream; a read failure ends the shard as one
    problem sample."""
    reading = [""]  # the member whose bytes are being read (webdataset names it to `select_files` first)

    def select(name: str) -> bool:
        reading[0] = name
        return True

    try:
        with fsspec.open(source, "rb") if isinstance(source, str) else contextlib.nullcontext(source) as stream:
            for member in tar_file_iterator(stream, skip_meta=None, select_files=select):
                yield member["fname"], member["data"]
                reading[0] = ""
    except (tarfile.TarError, OSError, EOFError) as exc:
        key = base_plus_ext(reading[0])[0] or reading[0] if reading[0] else "(end of shard)"
        detail = str(exc).split(" @ ")[0].replace("\n", " ")
        reason = f"shard truncated or corrupt after the last whole sample ({type(exc).__name__}: {detail})"
        yield Sample(shard, key, problem=reason)


def read_samples(shards: ShardSet, shard: str, data: bytes | None = None) -> Iterator[Sample]:
    """The samples of one shard, in order: members of one key arrive together (webdataset's contract).

    `data`: the shard's bytes, already read (and checked) by the caller; else it is read from its URL.
    """
    sample: Sample | None = None
    source = shards.url(shard) if data is None else io.BytesIO(data)
    for item in _read_members(source, shard):
        if isinstance(item, Sample):  # the shard ended early: the sample being read is lost with it
            if sample is not None and sample.key != item.key:
                yield sample
            yield item
            return
        name, data = item
        key, extension = base_plus_ext(name)
        if key is None or extension is None:
            key, extension = name, ""
        if sample is None or sample.key != key:
            if sample is not None:
                yield sample
            sample = Sample(shard, key, problem=_key_problem(key))
        if extension.lower() in sample.members and sample.problem is None:
            sample.problem = f"member {name!r} appears twice"
        sample.members[extension.lower()] = data
    if sample is not None:
        yield sample
