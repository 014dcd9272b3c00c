"""WebDataset shards made inside a test: good samples (the photo dataset's images and captions), hostile ones.

Tars are written with `tarfile` directly, not with webdataset's writer, so that a test can put into them what
a careless or malicious producer would: a key that is a path out of the shard, a 0-byte member, a member cut
short.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from tests.support.datasets import CAPTIONS, photo_suffix, save_photo

Members = list[tuple[str, bytes]]


def write_tar(path: Path, members: Members, truncate_last: int = 0) -> None:
    """A tar of `members`; `truncate_last` > 0 cuts that many bytes out of the last member's data (and the
    end-of-archive blocks), as a copy interrupted mid-member leaves it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    if truncate_last:
        end = data.rindex(members[-1][1][:64]) + len(members[-1][1])
        data = data[: end - truncate_last]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def photo_bytes(name: str, scratch: Path) -> bytes:
    path = scratch / f"{name}{photo_suffix(name)}"
    save_photo(name, path)
    return path.read_bytes()


def photo_samples(scratch: Path) -> dict[str, tuple[bytes, str, list[str]]]:
    """name -> (image bytes, extension, captions) for the photo dataset."""
    return {
        name: (photo_bytes(name, scratch), photo_suffix(name).lstrip("."), captions)
        for name, captions in CAPTIONS.items()
    }


def good_members(key: str, image: bytes, extension: str, caption: str, split: str | None = None) -> Members:
    members = [(f"{key}.{extension}", image), (f"{key}.txt", caption.encode())]
    if split is not None:
        members.append((f"{key}.json", json.dumps({"split": split, "key": key}).encode()))
    return members
