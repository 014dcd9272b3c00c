"""Flat caption files: TSV (`caption<TAB>image_path`, no header), CSV and JSONL with named columns.

Image paths are relative to `data.image_root` (default: the file's directory). Every line becomes a row; a
line that cannot be parsed (no tab, extra tabs, bad JSON, a missing column, bytes that are not UTF-8) carries
its line number and the reason in `problem`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from t2igan.config import DataParams
from t2igan.data.importers.base import Imported, utf8_problem
from t2igan.data.manifest import manifest_row
from t2igan.data.splits import hash_split, normalize_split
from t2igan.errors import DataError


def _source_file(params: DataParams) -> tuple[Path, Path]:
    path = Path(params.path or "").expanduser()
    if not path.is_file():
        raise DataError(f"{path}: does not exist (data.path)")
    root = Path(params.image_root).expanduser() if params.image_root else path.parent
    if not root.is_dir():
        raise DataError(f"{root}: image root not found (data.image_root)")
    return path, root.resolve()


def _row(
    params: DataParams,
    number: int,
    caption: str | None,
    image: str | None,
    split: str | None = None,
    problem: str | None = None,
) -> dict[str, Any]:
    image_id = image if image else f"line-{number}"
    return manifest_row(
        row_id=f"{params.source}-{number}",
        image_id=image_id,
        split=normalize_split(split) if split else hash_split(image_id, params.test_fraction),
        caption=caption,
        image_path=image,
        source=params.source,
        problem=problem if problem else utf8_problem(caption, image),
    )


def _lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) with undecodable bytes kept as surrogates, so the row is reported, not lost."""
    text = path.read_bytes().decode("utf-8", errors="surrogateescape")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [(n, line.removesuffix("\r")) for n, line in enumerate(lines, start=1)]


def read_tsv(params: DataParams) -> Imported:
    path, root = _source_file(params)
    rows = []
    for number, line in _lines(path):
        parts = line.split("\t")
        if len(parts) != 2:
            reason = "no tab" if len(parts) == 1 else f"{len(parts) - 1} tabs"
            malformed = f"{path.name} line {number}: malformed line ({reason}; expected caption<TAB>image_path)"
            rows.append(_row(params, number, None, None, problem=malformed))
            continue
        caption, image = parts
        unreadable = utf8_problem(caption, image)
        problem = f"{path.name} line {number}: {unreadable}" if unreadable else None
        rows.append(_row(params, number, caption, image, problem=problem))
    return Imported(rows, root)


def read_jsonl(
    params: DataParams, path: Path | None = None, root: Path | None = None, split: str | None = None
) -> Imported:
    if path is None or root is None:
        path, root = _source_file(params)
    columns = params.columns
    rows = []
    for number, line in _lines(path):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            invalid = utf8_problem(line) or f"not valid JSON ({exc.msg})"
            rows.append(_row(params, number, None, None, problem=f"{where}: {invalid}"))
            continue
        if not isinstance(record, dict):
            rows.append(_row(params, number, None, None, problem=f"{where}: not a JSON object"))
            continue
        missing = [c for c in (columns.caption, columns.image) if c not in record]
        caption, image = record.get(columns.caption), record.get(columns.image)
        problem: str | None = f"{where}: missing {', '.join(repr(m) for m in missing)}" if missing else None
        if not problem and not isinstance(caption, str):
            problem = f"{where}: caption is {type(caption).__name__}, not text"
        if not problem and utf8_problem(caption, image):
            problem = f"{where}: {utf8_problem(caption, image)}"
        row_split = split or (record.get(columns.split) if columns.split else None)
        rows.append(
            _row(
                params,
                number,
                caption if isinstance(caption, str) else None,
                image if isinstance(image, str) else None,
                row_split,
                problem,
            )
        )
    return Imported(rows, root)


def read_csv(params: DataParams) -> Imported:
    path, root = _source_file(params)
    columns = params.columns
    text = path.read_bytes().decode("utf-8", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path}: empty CSV file") from None
    wanted = [columns.caption, columns.image] + ([columns.split] if columns.split else [])
    missing = [c for c in wanted if c not in header]
    if missing:
        raise DataError(f"{path}: header lacks column(s) {missing} (data.columns; found {header})")
    index = {name: header.index(name) for name in wanted}
    rows = []
    for record in reader:
        number = reader.line_num
        if not any(field.strip() for field in record):
            continue
        where = f"{path.name} line {number}"
        if len(record) != len(header):
            problem = f"{where}: malformed row ({len(record)} fields, header has {len(header)})"
            rows.append(_row(params, number, None, None, problem=problem))
            continue
        caption, image = record[index[columns.caption]], record[index[columns.image]]
        unreadable = utf8_problem(caption, image)
        split = record[index[columns.split]] if columns.split else None
        rows.append(
            _row(params, number, caption, image, split, f"{where}: {unreadable}" if unreadable else None)
        )
    return Imported(rows, root)
