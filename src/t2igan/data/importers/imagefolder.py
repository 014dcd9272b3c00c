"""Hugging Face `imagefolder` with captions: `metadata.jsonl` records of `file_name` and `text`.

Either one metadata.jsonl at the root (split by a hash of the image), or one per split directory
(`train/`, `test/`, `validation/`), as `datasets` lays them out.
"""

from __future__ import annotations

from t2igan.config import ColumnParams, DataParams
from t2igan.data.importers.base import Imported, dataset_root
from t2igan.data.importers.table import read_jsonl
from t2igan.data.splits import normalize_split
from t2igan.errors import DataError


def read(params: DataParams) -> Imported:
    root = dataset_root(params)
    columns = ColumnParams(caption="text", image="file_name")
    hf_params = params.model_copy(update={"columns": columns, "source": "imagefolder"})
    files = (
        [root / "metadata.jsonl"]
        if (root / "metadata.jsonl").is_file()
        else sorted(root.glob("*/metadata.jsonl"))
    )
    if not files:
        raise DataError(f"{root}: no metadata.jsonl (imagefolder layout expected)")
    rows = []
    for file in files:
        folder = file.parent
        split = None if folder == root else normalize_split(folder.name)
        part = read_jsonl(hf_params, path=file, root=folder, split=split)
        prefix = "" if folder == root else f"{folder.name}/"
        for row in part.rows:
            # Paths are stored relative to the dataset root, whichever metadata file named them.
            if row["image_path"]:
                row["image_path"] = prefix + row["image_path"]
                row["image_id"] = prefix + row["image_id"]
            row["id"] = f"imagefolder-{prefix}{row['id'].split('-', 1)[1]}"
        rows += part.rows
    return Imported(rows, root)
