"""Tensors out of a torch zip archive (a TorchScript file or `torch.save` output), with no code run.

A TorchScript archive is a zip holding `data.pkl` (the module tree, pickled) and `data/<key>` (each tensor's
raw bytes). Reading it with `torch.jit.load` would compile and run the archive's TorchScript code, deprecated
since torch 2.11; reading it with plain `pickle` would import whatever classes it names. This reader unpickles
with an allow-list: module objects become plain records of their attributes, tensors are rebuilt from their
bytes, and any other global is refused. Only tensors and plain values come out.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class ArchiveError(ValueError):
    """The file is not a torch archive this reader accepts."""


class _Record:
    """A pickled module object: its attributes, nothing else (no methods of the original class)."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.__dict__.update(state)


class _StorageType:
    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


def _rebuild_tensor(
    storage: torch.Tensor, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: object
) -> torch.Tensor:
    return storage.as_strided(size, stride, offset)


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(io.BytesIO(data))
        self.archive = archive
        self.prefix = prefix

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("__torch__."):
            return _Record
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        allowed = {
            ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
            ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
            ("collections", "OrderedDict"): collections.OrderedDict,
            ("torch.jit._pickle", "build_intlist"): list,
            ("torch.jit._pickle", "build_doublelist"): list,
            ("torch.jit._pickle", "build_boollist"): list,
        }
        if (module, name) not in allowed:
            raise ArchiveError(f"refusing to unpickle {module}.{name}")
        return allowed[(module, name)]

    def persistent_load(self, pid: Any) -> torch.Tensor:
        kind, storage_type, key, _location, count = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise ArchiveError(f"unexpected persistent record {kind!r}")
        raw = bytearray(self.archive.read(f"{self.prefix}data/{key}"))
        tensor = (
            torch.frombuffer(raw, dtype=storage_type.dtype) if raw else torch.empty(0, dtype=storage_type.dtype)
        )
        return tensor[:count]


def _flatten(value: Any, prefix: str, out: dict[str, torch.Tensor]) -> None:
    if isinstance(value, torch.Tensor):
        out[prefix] = value.clone()
    elif isinstance(value, _Record):
        for key, item in value.__dict__.items():
            _flatten(item, f"{prefix}.{key}" if prefix else key, out)
    elif isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor in the archive by its dotted attribute path (`net.layers.conv.weight`)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"not a torch zip archive ({exc})") from None
    with archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl")]
        if not pickles:
            raise ArchiveError("no data.pkl inside (not a torch archive)")
        prefix = pickles[0].removesuffix("data.pkl")
        try:
            root = _Unpickler(archive.read(pickles[0]), archive, prefix).load()
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError, AttributeError) as exc:
            raise ArchiveError(f"unreadable archive ({exc})") from None
    tensors: dict[str, torch.Tensor] = {}
    _flatten(root, "", tensors)
    return tensors
