"""The Reed et al. layout of CUB-200 and Oxford-102: `images/<class>/<name>.jpg` with
`text/<class>/<name>.txt` (or `text_c10/`), one caption per line.

Class-level splits come from `trainclasses.txt` / `valclasses.txt` / `testclasses.txt` (or
`trainvalclasses.txt`) when the dataset has them; otherwise images are split by a hash of their id.
"""

from __future__ import annotations

from pathlib import Path

from t2igan.config import DataParams
from t2igan.data.importers.base import Imported, dataset_root
from t2igan.data.manifest import manifest_row
from t2igan.data.splits import TEST, TRAIN, hash_split
from t2igan.errors import DataError

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _class_splits(root: Path) -> dict[str, str]:
    splits: dict[str, str] = {}
    for file, split in (
        ("trainclasses.txt", TRAIN),
        ("trainvalclasses.txt", TRAIN),
        ("valclasses.txt", TEST),
        ("testclasses.txt", TEST),
    ):
        path = root / file
        if path.is_file():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.strip():
                    splits[line.strip()] = split
    return splits


def _image_for(root: Path, class_name: str, stem: str) -> str:
    for suffix in _IMAGE_SUFFIXES:
        candidate = Path("images") / class_name / f"{stem}{suffix}"
        if (root / candidate).is_file():
            return candidate.as_posix()
    return (Path("images") / class_name / f"{stem}.jpg").as_posix()  # missing: validate will say so


def read(params: DataParams) -> Imported:
    root = dataset_root(params)
    text_dir = next((root / d for d in ("text", "text_c10") if (root / d).is_dir()), None)
    if text_dir is None:
        raise DataError(f"{root}: no text/ or text_c10/ directory (Reed layout expected)")
    splits = _class_splits(root)
    rows = []
    for text_file in sorted(text_dir.glob("*/*.txt")):
        class_name, stem = text_file.parent.name, text_file.stem
        image_id = f"{class_name}/{stem}"
        split = splits.get(class_name) or hash_split(image_id, params.test_fraction)
        image = _image_for(root, class_name, stem)
        lines = text_file.read_bytes().split(b"\n")
        if lines and not lines[-1].strip():
            lines.pop()
        for number, raw in enumerate(lines, start=1):
            try:
                caption, problem = raw.decode("utf-8").strip(), None
            except UnicodeDecodeError:
                caption = raw.decode("utf-8", errors="replace").strip()
                problem = f"{text_file.name} line {number}: caption is not valid UTF-8"
            rows.append(
                manifest_row(
                    row_id=f"reed-{image_id}-{number}",
                    image_id=image_id,
                    split=split,
                    caption=caption,
                    image_path=image,
                    source="reed",
                    problem=problem,
                )
            )
    return Imported(rows, root, {"class_splits": bool(splits)})
