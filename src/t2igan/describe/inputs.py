"""What describe reads from the pipeline, checked for presence first.

In a fresh checkout nothing has run; rather than the first reader's complaint about one file, the error says
which stage writes what is missing and that `dvc repro` runs them all. A dataset that validate rejected keeps
validate's own message (t2igan.data.manifest.read_clean_manifest says why).
"""

from __future__ import annotations

from pathlib import Path

from t2igan.data.sharded_store import INDEX
from t2igan.errors import StageInputError
from t2igan.paths import ProjectPaths
from t2igan.text.embeddings import EMBEDDINGS_FILE, ENCODER_FILE


def _needed(paths: ProjectPaths) -> list[tuple[Path, str]]:
    """Each file describe reads and the stage that writes it, in pipeline order."""
    return [
        (paths.clean_manifest, "validate"),
        (
            paths.image_shards / INDEX if (paths.image_shards / INDEX).is_file() else paths.image_store,
            "validate",
        ),
        (paths.embeddings_dir / EMBEDDINGS_FILE, "embed"),
        (paths.embeddings_dir / ENCODER_FILE, "embed"),
    ]


def require_pipeline_outputs(paths: ProjectPaths) -> None:
    """Raise a one-line StageInputError naming the first missing output and the stage to run."""
    if not paths.clean_manifest.is_file() and paths.rejected.is_file():
        return  # read_clean_manifest explains the rejection
    for path, stage in _needed(paths):
        if not path.is_file():
            raise StageInputError(
                f"{path}: not found: the pipeline has not run in {paths.root} "
                f"(run `dvc repro`, or the stages up to `t2igan {stage}`)"
            )
