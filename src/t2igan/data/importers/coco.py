"""COCO captions: `annotations/captions_<split><year>.json` plus the image folders they name.

Each annotation is a row (about five captions per image, sharing the image's id); `val`/`test` files become
the test split. Images are looked for in `<root>/<split><year>/` or `<root>/images/<split><year>/`.
"""

from __future__ import annotations

import json
from pathlib import Path

from t2igan.config import DataParams
from t2igan.data.importers.base import Imported, dataset_root, utf8_problem
from t2igan.data.manifest import manifest_row
from t2igan.data.splits import TEST, TRAIN
from t2igan.errors import DataError


def _image_dir(root: Path, name: str) -> str:
    for candidate in (Path(name), Path("images") / name, Path("images")):
        if (root / candidate).is_dir():
            return candidate.as_posix()
    return name


def read(params: DataParams) -> Imported:
    root = dataset_root(params)
    files = sorted((root / "annotations").glob("captions_*.json"))
    if not files:
        raise DataError(f"{root / 'annotations'}: no captions_*.json files (COCO layout expected)")
    rows = []
    for file in files:
        name = file.stem.removeprefix("captions_")
        split = TEST if name.startswith(("val", "test")) else TRAIN
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            images = {image["id"]: image["file_name"] for image in data["images"]}
            annotations = data["annotations"]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"{file}: not a COCO captions file ({type(exc).__name__}: {exc})") from None
        folder = _image_dir(root, name)
        for number, annotation in enumerate(annotations):
            image_key = annotation.get("image_id")
            caption = annotation.get("caption")
            file_name = images.get(image_key)
            problem = None
            if file_name is None:
                problem = f"{file.name} annotation {number}: unknown image_id {image_key!r}"
            elif not isinstance(caption, str):
                problem = f"{file.name} annotation {number}: caption is missing"
            elif utf8_problem(caption):
                problem = f"{file.name} annotation {number}: caption is not valid UTF-8"
            rows.append(
                manifest_row(
                    row_id=f"coco-{name}-{annotation.get('id', number)}",
                    image_id=f"coco-{name}-{image_key}",
                    split=split,
                    caption=caption if isinstance(caption, str) else None,
                    image_path=f"{folder}/{file_name}" if file_name else None,
                    source="coco",
                    problem=problem,
                )
            )
    return Imported(rows, root)
