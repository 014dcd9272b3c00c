"""One run's parameter overrides, kept in params.override.yaml next to params.yaml.

Why a file, and why this one: DVC decides what to rerun from the params files it reads, and records their
values in dvc.lock. A value changed for one run must therefore be in a file DVC reads, or dvc.lock would
claim params.yaml's value for outputs built with another, and the next `dvc repro` would skip work it should
redo. So every stage in dvc.yaml also tracks its sections of params.override.yaml, the CLI layers that file
over params.yaml (`t2igan.config.loading.load_params`), and the training flow writes it for its run and
restores it afterwards: params.yaml itself is never edited. The file keeps every section, empty ones as
`{}`, because DVC fails on a tracked section that is missing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from t2igan.config.loading import DEFAULT_PARAMS_FILE, OVERRIDE_FILE, apply_dotted, load_params, merge_layers
from t2igan.config.schema import Params
from t2igan.errors import ConfigError
from t2igan.io import write_text

HEADER = """\
# Values that override params.yaml for one run of the training flow (flows/training.py writes them for the
# run and empties it again afterwards). DVC tracks each section for the stages that use it, so every
# section stays here, empty as {}. Edit params.yaml, not this file.
"""


def sections() -> tuple[str, ...]:
    """params.yaml's top-level keys, as spelled in YAML (`register`, not the model's field name)."""
    return tuple(field.alias or name for name, field in Params.model_fields.items())


def nest(overrides: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Dotted keys (`train.lr_g`) or nested sections as the file holds them: every section, in file order."""
    nested: dict[str, Any] = apply_dotted({}, {k: v for k, v in (overrides or {}).items() if "." in k})
    for key, value in (overrides or {}).items():
        if "." in key:
            continue
        if not isinstance(value, Mapping):
            raise ConfigError(f"override {key}: a whole section must be a mapping, got {value!r}")
        nested = merge_layers(nested, {key: dict(value)})
    unknown = sorted(set(nested) - set(sections()))
    if unknown:
        raise ConfigError(f"override {unknown[0]}: unknown section (expected one of {', '.join(sections())})")
    return {section: nested.get(section, {}) for section in sections()}


def render(nested: Mapping[str, Mapping[str, Any]]) -> str:
    return HEADER + yaml.safe_dump(dict(nested), sort_keys=False, default_flow_style=None)


def empty_file() -> str:
    return render(nest({}))


def validate(root: Path, overrides: Mapping[str, Any] | None) -> Params:
    """params.yaml with these overrides on top, validated; a bad key fails here, before any stage runs."""
    return load_params(root / DEFAULT_PARAMS_FILE, overlay=nest(overrides))


def ensure_file(root: Path) -> Path:
    """Create an empty override file where a project lacks one (dvc.yaml names it)."""
    path = root / OVERRIDE_FILE
    if not path.is_file():
        write_text(path, empty_file())
    return path


def _write_if_changed(path: Path, text: str) -> None:
    """Leave an identical file alone: git and DVC then see no change at all."""
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_text(path, text)


@contextlib.contextmanager
def applied(root: Path, overrides: Mapping[str, Any] | None) -> Iterator[Params]:
    """Write the run's overrides (validated first), yield the effective params, then empty the file again.

    Emptied, not restored: the overrides are for this run only, so the next run of any entry point starts
    from params.yaml, and a value left behind by an interrupted run cannot leak into this one either.
    """
    params = validate(root, overrides)
    path = root / OVERRIDE_FILE
    _write_if_changed(path, render(nest(overrides)))
    try:
        yield params
    finally:
        _write_if_changed(path, empty_file())
