"""A landing directory: images with a caption file beside each (`cat.jpg` + `cat.txt`, one caption a line).

Made for data that keeps arriving: whoever delivers drops an image and its caption file anywhere under
`data.path`, and the next run takes in whatever is there. Files still being written are ignored when their
names mark them as such (hidden names, `.tmp`, `.part`, `.partial`, `.crdownload`), so a writer that lands a
file under a temporary name and renames it when done is never read half-written. An image whose caption
file has not arrived, or a caption file without an image, becomes a row with that problem (quarantined by
validate, picked up complete on a later run). A top-level `train/` or `test/` (`val/`, ...) directory gives the
split; anything else is split by a hash of the image's path, so images keep their split as the set grows.
"""

from __future__ import annotations

import functools
from pathlib import Path

from t2igan.config import DataParams
from t2igan.data.images import BadImage, confine
from t2igan.data.importers.base import Imported, dataset_root
from t2igan.data.manifest import manifest_row
from t2igan.data.splits import ALIASES, hash_split
from t2igan.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
CAPTION_SUFFIX = ".txt"
IN_FLIGHT_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")


def in_flight(relative: Path) -> bool:
    """A file (or a file under a directory) that is hidden or named as still being written."""
    return any(part.startswith(".") for part in relative.parts) or relative.suffix.lower() in IN_FLIGHT_SUFFIXES


def landed_files(root: Path) -> list[Path]:
    """Every complete file under `root`, relative to it, in a stable order."""
    return sorted(
        path.relative_to(root)
        for path in root.rglob("*")
        if path.is_file() and not in_flight(path.relative_to(root))
    )


def _split(relative: Path, test_fraction: float) -> str:
    top = relative.parts[0].lower() if len(relative.parts) > 1 else ""
    return ALIASES.get(top) or hash_split(relative.with_suffix("").as_posix(), test_fraction)


def _captions(root: Path, relative: Path) -> tuple[list[str], str | None]:
    """Non-empty lines of a caption file, or the reason it cannot be read (as UTF-8, inside the root)."""
    try:
        path = confine(root, relative.as_posix())
    except BadImage:
        return [], f"{relative.as_posix()}: caption file escapes the dataset root"
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return [], f"{path.name}: caption file is not valid UTF-8"
    except OSError as exc:
        return [], f"{path.name}: caption file unreadable ({exc.strerror or exc})"
    return [line.strip() for line in text.removeprefix("\ufeff").splitlines() if line.strip()], None


def _orphan_problem(stem: Path, image: Path | None, caption_file: Path | None) -> str:
    """What is missing beside an image or a caption file that came alone."""
    if image is not None:
        return f"{image.as_posix()}: no caption file {stem.name}{CAPTION_SUFFIX} beside it"
    return f"{caption_file}: no image named {stem.name}.* beside it"


def read(params: DataParams) -> Imported:
    root = dataset_root(params)
    files = landed_files(root)
    images = {f.with_suffix(""): f for f in files if f.suffix.lower() in IMAGE_SUFFIXES}
    captions = {f.with_suffix(""): f for f in files if f.suffix.lower() == CAPTION_SUFFIX}
    rows = []
    for stem in sorted(set(images) | set(captions)):
        image, caption_file = images.get(stem), captions.get(stem)
        image_id = stem.as_posix()
        split = _split(stem, params.test_fraction)
        row = functools.partial(manifest_row, image_id=image_id, split=split, source="folder")
        if caption_file is None or image is None:  # an orphan: quarantined with what is missing
            problem = _orphan_problem(stem, image, caption_file)
            image_path = image.as_posix() if image is not None else None
            rows.append(
                row(row_id=f"folder-{image_id}-0", caption=None, image_path=image_path, problem=problem)
            )
            continue
        texts, unreadable = _captions(root, caption_file)
        empty = (
            f"{caption_file.as_posix()}: caption file is empty" if unreadable is None and not texts else None
        )
        for number, text in enumerate(texts or [None], start=1):
            row_id = f"folder-{image_id}-{number}"
            rows.append(
                row(row_id=row_id, caption=text, image_path=image.as_posix(), problem=unreadable or empty)
            )
    if not rows:
        raise DataError(f"{root}: no images with caption files yet (expected name.jpg + name.txt)")
    return Imported(rows, root)
