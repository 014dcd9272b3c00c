"""Projects built once per test session and copied: the tiny pipeline's stages cost seconds each, and dozens of
tests start from the same few states (data validated, embedded, a generator trained).

A template is keyed by the stages run and the params sections those stages read (the sections `dvc.yaml` has
them track), so tests that differ only in later settings (`train.steps`, say) share the data stages. The
copy is the test's own: every absolute path of the template inside it (the MLflow store's artifact
locations, the model's run.json) is rewritten to the copy's, and the test's params.yaml is written over the
template's. Under pytest-xdist the templates are shared by the workers, each built once under a file lock.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock

from t2igan.config import parse_params
from t2igan.paths import ProjectPaths
from tests.support.project import REPO, reset_mlflow, run_stages, write_project

# Formats that hold no paths (and would break if edited as text)
BINARY = {".npy", ".npz", ".safetensors", ".parquet", ".pt", ".png", ".jpg", ".jpeg", ".webp", ".pkl", ".bin"}
DONE = "built"


def stage_sections(stages: tuple[str, ...]) -> list[str]:
    """The params sections the stages read, as dvc.yaml tracks them (a dotted entry names its section)."""
    tracked = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    sections = {
        entry.split(".")[0]
        for stage in ("scan", *stages)
        for entry in tracked[stage].get("params", [])
        if isinstance(entry, str)
    }
    return sorted(sections)


def copy_project(template: Path, destination: Path) -> ProjectPaths:
    """`template` copied to `destination`, every mention of the template's root rewritten to the copy's."""
    shutil.copytree(template, destination, symlinks=True)
    old, new = str(template), str(destination)
    for path in destination.rglob("*"):
        if not path.is_file() or path.suffix in BINARY:
            continue
        if path.suffix == ".db":
            _rewrite_sqlite(path, old, new)
            continue
        data = path.read_bytes()
        if old.encode() in data:
            path.write_bytes(data.replace(old.encode(), new.encode()))
    return ProjectPaths.at(destination)


def _rewrite_sqlite(database: Path, old: str, new: str) -> None:
    """Every text value of every table that names the template (MLflow keeps artifact locations absolute)."""
    connection = sqlite3.connect(database)
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')]
            for column in columns:
                connection.execute(
                    f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                    f'WHERE typeof("{column}") = \'text\' AND instr("{column}", ?) > 0',
                    (old, new, old),
                )
        connection.commit()
    finally:
        connection.close()


class ProjectTemplates:
    """The session's templates, under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def built(self, name: str, build: Callable[[Path], object]) -> Path:
        """The directory `build` filled, once per session whichever worker asks first (under a file lock)."""
        directory = self.root / name / "project"
        with FileLock(str(self.root / f"{name}.lock")):
            if not (self.root / name / DONE).is_file():
                shutil.rmtree(directory, ignore_errors=True)
                directory.parent.mkdir(parents=True, exist_ok=True)
                build(directory)
                (self.root / name / DONE).write_text(name)
        return directory

    def project(self, destination: Path, raw: dict[str, Any], *stages: str) -> ProjectPaths:
        """A project at `destination` with params `raw` and its `stages` run (in process, as the CLI would)."""
        inputs = {section: raw.get(section) for section in stage_sections(stages)}
        key = hashlib.sha256(json.dumps([stages, inputs], sort_keys=True, default=str).encode()).hexdigest()

        def build(template: Path) -> None:
            paths = write_project(template, raw)
            reset_mlflow()
            try:
                run_stages(parse_params(raw), paths, *stages)
            finally:
                reset_mlflow()

        copied = copy_project(self.built(key[:20], build), destination)
        (destination / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        return copied
