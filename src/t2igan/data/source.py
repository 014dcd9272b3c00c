"""A fingerprint of the configured dataset's files, so that DVC can tell when new data has landed.

The dataset usually lives outside the project (`data.path`), where dvc.yaml cannot name it: its location is a
param and may be null (the synthetic set has no files). The scan stage therefore runs on every `dvc repro` and
writes this fingerprint to data/source.json, and ingest depends on that file: DVC reruns ingest exactly when
a file was added, removed or rewritten, and skips it (and everything after it) otherwise. Size and
modification time stand in for content, as in DVC's own state database and in make: hashing every image on
every run would cost as much as ingest itself, which does hash them, into the manifest.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import fsspec

from t2igan.config import FILE_SOURCES, DataParams
from t2igan.data.importers.folder import in_flight
from t2igan.data.shards import locate
from t2igan.errors import DataError


@dataclass(frozen=True)
class SourceFingerprint:
    source: str
    path: str | None
    exists: bool
    files: int
    bytes: int
    newest: str | None  # modification time of the newest file (UTC), for people reading the file
    digest: str  # sha256 over (root, relative path, size, mtime) of every file, in order

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _roots(data: DataParams) -> list[Path]:
    """Where the dataset's files are: its directory, or its caption file and the directory of its images."""
    if data.source == "synthetic" or not data.path:
        return []  # rendered from params and code, which are ingest's own DVC dependencies
    path = Path(data.path).expanduser()
    if data.source in FILE_SOURCES:
        images = Path(data.image_root).expanduser() if data.image_root else path.parent
        return [path, images]
    return [path]


def _walk(root: Path) -> list[tuple[str, os.stat_result]]:
    if root.is_file():
        return [(root.name, root.stat())]
    found = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in names:
            full = Path(directory, name)
            relative = full.relative_to(root)
            if not in_flight(relative) and full.is_file():
                found.append((relative.as_posix(), full.stat()))
    return sorted(found, key=lambda item: item[0])


def _shard_entries(path: str) -> list[tuple[str, int, str]]:
    """(name, size, version) of every shard: the modification time, or on object storage the ETag."""
    shards = locate(path)
    fs, _, _ = fsspec.get_fs_token_paths(shards.url(shards.names[0]))
    entries = []
    for name in shards.names:
        info = fs.info(shards.url(name))
        version = info.get("ETag") or info.get("LastModified") or info.get("mtime") or info.get("created")
        entries.append((name, int(info.get("size") or 0), str(version)))
    return entries


def _fingerprint_shards(data: DataParams) -> SourceFingerprint:
    digest = hashlib.sha256(f"{data.source}\n{data.path}\n".encode())
    try:
        entries = _shard_entries(data.path or "")
    except (DataError, OSError):
        entries = []  # ingest names what is wrong with the path
    for name, size, version in entries:
        digest.update(f"{name}\t{size}\t{version}\n".encode())
    return SourceFingerprint(
        data.source,
        data.path,
        bool(entries),
        len(entries),
        sum(e[1] for e in entries),
        None,
        digest.hexdigest(),
    )


def fingerprint(data: DataParams) -> SourceFingerprint:
    if data.source == "webdataset":
        return _fingerprint_shards(data)
    roots = _roots(data)
    digest = hashlib.sha256(f"{data.source}\n".encode())
    files = total = newest = 0
    exists = all(root.exists() for root in roots)
    for number, root in enumerate(roots):
        if not root.exists():
            digest.update(f"{number}\tmissing\n".encode())
            continue
        for relative, stat in _walk(root):
            digest.update(
                f"{number}\t{relative}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode("utf-8", "replace")
            )
            files += 1
            total += stat.st_size
            newest = max(newest, stat.st_mtime_ns)
    return SourceFingerprint(
        source=data.source,
        path=data.path,
        exists=exists,
        files=files,
        bytes=total,
        newest=datetime.fromtimestamp(newest / 1e9, timezone.utc).isoformat(timespec="seconds")
        if files
        else None,
        digest=digest.hexdigest(),
    )
