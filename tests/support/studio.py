"""A project whose registry holds a champion and a challenger waiting for votes, and a studio on it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from t2igan.config import Params, parse_params
from t2igan.env import OFFLINE_DEFAULTS
from t2igan.paths import ProjectPaths
from tests.support.project import (
    VENV_BIN,
    reset_mlflow,
    run_stages,
    set_generator_weights,
    tiny_params_dict,
    tool_env,
    write_project,
)
from tests.support.services import _start, _stop, _wait, free_port
from tests.support.templates import ProjectTemplates

MIN_VOTES = 3  # 3 of 3: Wilson's 90% lower bound is 0.53 > 0.5; 2 votes are too few


def human_gate_params() -> dict[str, Any]:
    return tiny_params_dict(
        register={"human_gate": {"enabled": True, "min_votes": MIN_VOTES, "threshold": 0.5, "confidence": 0.9}}
    )


def champion_and_waiting_challenger(
    root: Path, templates: ProjectTemplates | None = None
) -> tuple[ProjectPaths, Params]:
    """Version 1 (a badly perturbed generator) is @champion; version 2 (the trained one) beat it on the numbers
    and waits as @challenger for votes (register.human_gate on, min_votes MIN_VOTES). `templates`: start from
    the session's data stages (tests/support/templates.py) rather than run them here."""
    from safetensors.torch import load_file

    raw = human_gate_params()
    params = parse_params(raw)
    data = ("ingest", "validate", "embed")
    paths = templates.project(root, raw, *data) if templates is not None else write_project(root, raw)
    saved = {key: os.environ.get(key) for key in OFFLINE_DEFAULTS}
    os.environ.update(OFFLINE_DEFAULTS)
    try:
        reset_mlflow()
        run_stages(params, paths, *(() if templates is not None else data), "train")
        trained = load_file(str(paths.model_dir / "generator.safetensors"))
        set_generator_weights(paths, trained, noise=3.0)
        run_stages(params, paths, "evaluate", "register")
        set_generator_weights(paths, trained, noise=0.0)
        reset_mlflow()
        outcome = run_stages(params, paths, "evaluate", "register")["register"]
        assert (
            outcome.version == "2" and not outcome.promoted and "waiting for people's votes" in outcome.reason
        )
    finally:
        reset_mlflow()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return paths, params


@contextlib.contextmanager
def studio_server(paths: ProjectPaths, feedback_url: str, log: Path, *extra: str) -> Iterator[str]:
    """`t2igan studio` on a free port for the block; yields its base URL."""
    port = free_port()
    command = [str(VENV_BIN / "t2igan"), "studio", "--port", str(port), "--project", str(paths.root), *extra]
    env = tool_env(T2IGAN_FEEDBACK_URL=feedback_url)
    process = _start(command, paths.root, env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: httpx.get(f"{base}/healthz", timeout=2).status_code == 200, process, log, "t2igan studio")
        yield base
    finally:
        _stop(process, log)
