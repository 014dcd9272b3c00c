"""Lineage tags: enough on each model version to rebuild exactly what made it.

git commit (and whether the tree was dirty) + the dvc.lock hashes of the data and embedding outputs give
`git checkout <commit> && dvc checkout` of the inputs; the params hash and dataset facts say what was asked.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from t2igan.config import Params, section_hash
from t2igan.data.dataset import DatasetInfo
from t2igan.paths import ProjectPaths

# dvc.lock entries whose output hashes identify the data a model was built from
LOCKED_OUTPUTS = {"ingest": "data/ingest", "validate": "data/clean", "embed": "data/embeddings"}


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def git_state(root: Path) -> dict[str, str]:
    commit = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": commit or "unknown",
        "git_dirty": "unknown" if status is None else str(bool(status)).lower(),
    }


def dvc_lock_hashes(lock_path: Path) -> dict[str, str]:
    """md5 of each data output in dvc.lock (DVC's own content hash, the key `dvc checkout` uses)."""
    if not lock_path.is_file():
        return {}
    lock = yaml.safe_load(lock_path.read_text()) or {}
    stages = lock.get("stages", {})
    out: dict[str, str] = {}
    for stage, wanted in LOCKED_OUTPUTS.items():
        for item in stages.get(stage, {}).get("outs", []):
            if item.get("path") == wanted and item.get("md5"):
                out[f"{stage}_md5"] = str(item["md5"])
    return out


def lineage_tags(params: Params, paths: ProjectPaths) -> dict[str, str]:
    info = DatasetInfo.read(paths)
    tags: dict[str, Any] = {f"lineage.{k}": v for k, v in git_state(paths.root).items()}
    tags.update({f"lineage.dvc.{k}": v for k, v in dvc_lock_hashes(paths.dvc_lock).items()})
    tags["lineage.params_sha256"] = section_hash(params)
    tags["dataset.name"] = info.name
    tags["dataset.source"] = info.source
    tags["dataset.rows"] = info.rows
    tags["dataset.images"] = info.images
    tags.update(text_lineage(paths))
    return {k: str(v) for k, v in tags.items()}


def text_lineage(paths: ProjectPaths) -> dict[str, str]:
    """The base LM (name and weights hash) and, when training adapted it, how and the adaptation's hash."""
    from t2igan.text.embeddings import read_encoder_record
    from t2igan.text.tuning import TUNING_DIR, read_tuning

    spec = read_encoder_record(paths.model_dir)["spec"]
    tags = {"lineage.text.base": str(spec["name"]), "lineage.text.base_sha256": str(spec["weights_sha256"])}
    tuning = read_tuning(paths.model_dir / TUNING_DIR)
    tags["lineage.text.finetune"] = str(tuning["method"]) if tuning else "none"
    if tuning:
        tags["lineage.text.adapter_sha256"] = str(tuning["weights_sha256"])
    return tags
