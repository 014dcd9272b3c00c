"""The project a command works on, and how its errors reach the person who ran it.

Every command that reads a project takes `--project` (the root; default: the working directory) and
`--params` (the params file, relative to the project). Their values go into one `Project`, made by the root
callback before any command's options are read; the command asks it for the `(params, paths)` that every
domain call takes, loaded once. Errors a user can act on are printed as one line (no traceback) with an exit
code that tells bad input (2) from transient trouble (75), which the Prefect flow uses to decide whether a
retry can help.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from t2igan.config import DEFAULT_PARAMS_FILE, Params, load_params
from t2igan.errors import T2iganError
from t2igan.paths import ProjectPaths


@dataclass
class Project:
    """The options that name a project, and what they load (once, when a command first asks)."""

    root: Path | None = None  # --project; None: the working directory
    params_file: Path = field(default_factory=lambda: Path(DEFAULT_PARAMS_FILE))  # --params

    @property
    def params_path(self) -> Path:
        """`--params` as given when absolute or without `--project`, else relative to the project."""
        if self.params_file.is_absolute() or self.root is None:
            return self.params_file
        return self.root / self.params_file

    @cached_property
    def params(self) -> Params:
        return load_params(self.params_path)

    @cached_property
    def paths(self) -> ProjectPaths:
        return ProjectPaths.at(self.root)

    @property
    def directory(self) -> Path:
        """The project's root as given (the working directory when not)."""
        return self.root or Path.cwd()


def project(ctx: typer.Context) -> Project:
    """The command's project (the root callback made it; its options filled it)."""
    return ctx.ensure_object(Project)


def _set_root(ctx: typer.Context, value: Path | None) -> None:
    if value is not None:
        project(ctx).root = value


def _set_params(ctx: typer.Context, value: Path | None) -> None:
    if value is not None:
        project(ctx).params_file = value


# Declared by each command that reads a project; the values go to its `Project`, not to the function.
ParamsOption = Annotated[
    Path | None,
    typer.Option(
        "--params", "-p", help="params file, relative to the project", callback=_set_params, expose_value=False
    ),
]
ProjectOption = Annotated[
    Path | None,
    typer.Option(
        "--project",
        help="project root (default: current directory)",
        callback=_set_root,
        expose_value=False,
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def friendly(command: F) -> F:
    """Turn `T2iganError` into one line on stderr, `t2igan <command>: error: ...`, and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except T2iganError as exc:
            typer.echo(f"t2igan {_command_path(command, kwargs.get('ctx'))}: error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _command_path(command: Callable[..., Any], ctx: typer.Context | None) -> str:
    """The command as typed (`flow run`, `train`): the contexts' names below the root (whatever the program is
    called), else the function's name."""
    names: list[str] = []
    current: Any = ctx
    while current is not None and current.parent is not None:
        names.insert(0, current.info_name or "")
        current = current.parent
    return " ".join(names) if names else command.__name__.rstrip("_").replace("_", " ")
