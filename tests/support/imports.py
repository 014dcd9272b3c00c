"""What each module of src/t2igan imports, read from its source (every import statement, at any depth)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.project import REPO

SRC = REPO / "src"
PACKAGE = SRC / "t2igan"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_path(name: str) -> Path:
    base = SRC / Path(*name.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path) -> set[str]:
    """The t2igan modules a file imports (`from t2igan.x import y` counts t2igan.x.y when that is a module)."""
    names: set[str] = set()
    known = modules()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name in known}


def closure(name: str) -> set[str]:
    """Every t2igan module `name` needs, itself included: what it imports, and what those import."""
    known = modules()
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo += sorted(imported(known[current]))
        parent = current.rpartition(".")[0]
        if parent and parent in known:  # importing a module runs its package's __init__ first
            todo.append(parent)
    return seen


# Package initialisers Python runs on the way to a stage module: a docstring, the version, the stage list.
INITIALISERS = {"t2igan", "t2igan.stages"}


def code_units(names: set[str]) -> set[str]:
    """The dvc.yaml dependency paths that cover these modules: a subpackage's directory, a module's file."""
    units = set()
    for name in names - INITIALISERS:
        parts = name.split(".")
        in_subpackage = len(parts) > 2 or module_path(name).name == "__init__.py"
        if in_subpackage and parts[1] != "stages":
            units.add(f"src/t2igan/{parts[1]}")
        else:
            units.add(module_path(name).relative_to(REPO).as_posix())
    return units
