"""Reading params.yaml: the file, the run's override layer beside it, dotted overrides, then the schema.

One loader for every entry point: the CLI's stages, the flow's check of a run's overrides before any stage
starts (`t2igan.config.overrides`) and the served model's settings all go through `load_params`, so a bad
key gets the same one-line error, naming the files it may be in, wherever it is found.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from t2igan.config.schema import Params
from t2igan.errors import ConfigError

DEFAULT_PARAMS_FILE = "params.yaml"
# One run's overrides, layered over params.yaml (see t2igan.config.overrides); DVC tracks both files.
OVERRIDE_FILE = "params.override.yaml"


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model that `loc[:-1]` points into (for did-you-mean hints)."""
    current: Any = model
    for part in loc[:-1]:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = field.annotation
    return list(getattr(current, "model_fields", {}))


def _describe(error: ErrorDetails, source: str) -> str:
    loc = tuple(error["loc"])
    where = ".".join(str(part) for part in loc) or "<root>"
    if error["type"] == "extra_forbidden":
        hint = difflib.get_close_matches(str(loc[-1]), _known_keys(Params, loc), n=1)
        suffix = f" (did you mean '{hint[0]}'?)" if hint else ""
        return f"{source}: {where}: unknown key{suffix}"
    if error["type"] == "value_error":  # our own validators' messages say what is wrong and what to do
        return f"{source}: {where}: {error['ctx']['error']}"
    given = error.get("input")
    shown = "" if isinstance(given, (dict, list)) else f" (got {given!r})"  # never a whole section
    return f"{source}: {where}: {error['msg']}{shown}"


def merge_layers(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Later layers over earlier ones, section by section; lists and scalars are replaced whole.

    OmegaConf's merge, without resolving interpolations: a value is taken as written, `${...}` included.
    """
    from omegaconf import OmegaConf  # not at import: the served model imports this module without it

    configs = [OmegaConf.create(dict(layer or {})) for layer in layers]
    merged = OmegaConf.to_container(OmegaConf.merge(*configs), resolve=False)
    return {str(key): value for key, value in merged.items()} if isinstance(merged, dict) else {}


def apply_dotted(raw: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted-key overrides (`{"train.steps": 10}`) on top of a raw params mapping."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    config = OmegaConf.create(dict(raw))
    for dotted, value in overrides.items():
        parent = dotted.rpartition(".")[0]
        found = OmegaConf.select(config, parent) if parent else None
        if found is not None and not OmegaConf.is_dict(found):
            raise ConfigError(f"override {dotted}: '{parent}' is not a section")
        try:
            OmegaConf.update(config, dotted, value, merge=True)
        except OmegaConfBaseException as exc:
            raise ConfigError(f"override {dotted}: {str(exc).splitlines()[0]}") from None
    merged = OmegaConf.to_container(config, resolve=False)
    return {str(key): value for key, value in merged.items()} if isinstance(merged, dict) else {}


def read_yaml_mapping(path: Path) -> dict[str, Any] | None:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return raw


def read_overlay(params_file: str | Path) -> dict[str, Any]:
    """The override file next to `params_file`, without its empty sections ({} when there is none)."""
    path = Path(params_file).with_name(OVERRIDE_FILE)
    if not path.is_file():
        return {}
    raw = read_yaml_mapping(path) or {}
    for section, values in raw.items():
        if values is not None and not isinstance(values, dict):
            raise ConfigError(f"{path}: {section}: expected a mapping, got {type(values).__name__}")
    return {section: values for section, values in raw.items() if values}


def parse_params(raw: Mapping[str, Any] | None, source: str = DEFAULT_PARAMS_FILE) -> Params:
    try:
        return Params.model_validate(dict(raw or {}))
    except ValidationError as exc:
        raise ConfigError("; ".join(_describe(e, source) for e in exc.errors())) from None


def load_params(
    path: str | Path = DEFAULT_PARAMS_FILE,
    overrides: Mapping[str, Any] | None = None,
    overlay: Mapping[str, Any] | None = None,
) -> Params:
    """Read and validate params.yaml; raise `ConfigError` with one line naming every bad key.

    Values in params.override.yaml next to it (written by the training flow for one run) take precedence, or
    `overlay` in its place (the overrides a run is about to write there); an error then names both, since
    the bad key may be in either. `overrides`: dotted keys (`train.steps`) on top of all that.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    raw = read_yaml_mapping(path) or {}
    if overlay is None:
        overlay = read_overlay(path)
        source = f"{path} + {OVERRIDE_FILE}" if overlay else str(path)
    else:
        source = f"{path} + overrides"
    raw = merge_layers(raw, overlay)
    if overrides:
        raw = apply_dotted(raw, overrides)
    return parse_params(raw, source=source)
