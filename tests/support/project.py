"""Temporary t2igan projects: tiny params, stages run in process, the CLI and DVC run as the user runs them."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from t2igan.config import Params, merge_layers, parse_params
from t2igan.env import CACHE_DIR_ENV, OFFLINE_DEFAULTS, subprocess_env
from t2igan.paths import ProjectPaths

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
TINY = yaml.safe_load((Path(__file__).with_name("tiny.yaml")).read_text())


def repo_params() -> dict[str, Any]:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def tiny_params_dict(*layers: dict[str, Any], **sections: Any) -> dict[str, Any]:
    """params.yaml with the tiny layer, then `layers` and `sections` (`train={"steps": 3}`) on top."""
    return merge_layers(repo_params(), TINY, *layers, sections)


def tiny_params(**sections: Any) -> Params:
    return parse_params(tiny_params_dict(**sections))


def write_project(root: Path, raw: dict[str, Any]) -> ProjectPaths:
    """A project directory holding params.yaml (and an empty MLflow store, see `empty_mlflow_store`)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    paths = ProjectPaths.at(root)
    empty_mlflow_store(paths.mlruns)
    return paths


@functools.cache
def _schema_only_store() -> bytes:
    """The bytes of a new MLflow sqlite store, made by MLflow itself once per test session."""
    import mlflow

    with tempfile.TemporaryDirectory() as scratch:
        database = Path(scratch) / "mlflow.db"
        mlflow.MlflowClient(tracking_uri=f"sqlite:///{database}").search_experiments()
        return database.read_bytes()


def empty_mlflow_store(mlruns: Path) -> str:
    """`mlruns/mlflow.db` as MLflow makes a new store, and its URI.

    A new store runs MLflow's ~60 Alembic migrations, about 3 s; the suite makes dozens of projects, so each
    gets a copy of the store MLflow made once. Nothing else differs: MLflow opens it as it would its own.
    """
    database = mlruns / "mlflow.db"
    if not database.exists():
        mlruns.mkdir(parents=True, exist_ok=True)
        database.write_bytes(_schema_only_store())
    return f"sqlite:///{database}"


def run_stages(params: Params, paths: ProjectPaths, *stages: str) -> dict[str, Any]:
    """Run stages in-process, in order, as the CLI would; return their results by name."""
    return {stage: importlib.import_module(f"t2igan.stages.{stage}").run(params, paths) for stage in stages}


def reset_mlflow() -> None:
    """Forget the tracking and registry URIs a previous test set, so the next configure() takes effect cleanly.

    mlflow.set_tracking_uri and set_registry_uri export MLFLOW_TRACKING_URI and MLFLOW_REGISTRY_URI into this
    process's environment (for subprocesses), and setting them back to None does not always remove them
    (never for the registry): a store named there would outlive the test that named it, and t2igan's own
    configure() reads MLFLOW_TRACKING_URI first. So they are removed here too.
    """
    import mlflow

    if mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    for exported in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        os.environ.pop(exported, None)


@contextlib.contextmanager
def own_cache() -> Iterator[None]:
    """Projects keep their own caches (.t2igan-cache) in the block, not the session's shared one: for what a
    module fixture builds where the tests count cache misses (the `own_cache` mark does it for a test)."""
    shared = os.environ.pop(CACHE_DIR_ENV, None)
    try:
        yield
    finally:
        if shared is not None:
            os.environ[CACHE_DIR_ENV] = shared


def tool_env(**overrides: str) -> dict[str, str]:
    """The environment for a tool a test starts: offline, this venv's scripts on PATH, no outside stores."""
    env = subprocess_env(overrides={**OFFLINE_DEFAULTS, **overrides})
    for inherited in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL"):
        if inherited not in overrides:
            env.pop(inherited, None)
    if "MLFLOW_REGISTRY_URI" not in overrides:
        # mlflow.set_registry_uri exports this in the test process; a tool told its tracking URI must use it
        # as its registry too (mlflow's own default), not the last registry some earlier test named.
        if "MLFLOW_TRACKING_URI" in overrides:
            env["MLFLOW_REGISTRY_URI"] = overrides["MLFLOW_TRACKING_URI"]
        else:
            env.pop("MLFLOW_REGISTRY_URI", None)
    return env


def run_tool(
    command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=env or tool_env(), capture_output=True, text=True, timeout=timeout
    )


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """Run the installed `t2igan` console script."""
    return run_tool([str(VENV_BIN / "t2igan"), *args], cwd, env, timeout)


def checked(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 900) -> str:
    """A tool's stdout; the test fails with its output when it exits non-zero."""
    done = run_tool(command, cwd, env, timeout)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def dvc(project: Path, *args: str) -> str:
    return checked([str(VENV_BIN / "dvc"), *args], project)


def repro_ran(output: str) -> set[str]:
    """The stages a `dvc repro` ran, from its output."""
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def copy_project_files(destination: Path) -> None:
    """The files a DVC project of t2igan needs (code stays installed; dvc.yaml names src/ as deps)."""
    for name in ("dvc.yaml", "params.override.yaml", "flows", "src"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        else:
            shutil.copy2(source, destination / name)


def dvc_project(root: Path, raw: dict[str, Any], ignore: str = "") -> Path:
    """A git + DVC repository of t2igan with `raw` as params.yaml, committed."""
    write_project(root, raw)
    copy_project_files(root)
    # the repository's own ignores (metrics/*.json are versioned), and what tests leave beside the project
    (root / ".gitignore").write_text((REPO / ".gitignore").read_text() + "*.log\n" + ignore)
    checked(["git", "init", "-q"], root)
    dvc(root, "init", "-q")
    for key, value in (("user.name", "t"), ("user.email", "t@t")):  # dvc exp run commits experiments
        checked(["git", "config", key, value], root)
    return root


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}


def tiny_gan(**fields: Any) -> Any:
    """A GAN small enough for a step in milliseconds: the defaults' features, tiny widths."""
    from t2igan.gan.architecture import GANConfig

    base = {
        "image_size": 16,
        "text_dim": 12,
        "nf": 8,
        "d_nf": 8,
        "z_dim": 10,
        "cond_dim": 6,
        "contrastive_dim": 8,
    }
    return GANConfig(**{**base, **fields})


def cached_outputs(project: Path) -> list[Path]:
    """The outputs dvc.lock records that DVC caches (and so pushes and pulls): not the `cache: false` ones."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    dvc_yaml = yaml.safe_load((project / "dvc.yaml").read_text())
    uncached = {
        next(iter(entry))
        for stage in dvc_yaml["stages"].values()
        for entry in stage.get("outs", []) + stage.get("metrics", []) + stage.get("plots", [])
        if isinstance(entry, dict) and next(iter(entry.values())).get("cache") is False
    }
    outs = {o["path"] for stage in lock["stages"].values() for o in stage.get("outs", [])}
    return [project / out for out in sorted(outs - uncached)]


def digests(outputs: list[Path]) -> dict[str, str]:
    files = [f for out in outputs for f in ([out] if out.is_file() else sorted(out.rglob("*"))) if f.is_file()]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def set_generator_weights(paths: ProjectPaths, original: dict[str, Any], noise: float, seed: int = 0) -> None:
    """The exported generator's weights as `original` plus Gaussian noise of `noise` times each tensor's std."""
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    perturbed = {}
    for key, tensor in original.items():
        if tensor.is_floating_point() and tensor.numel() > 1 and noise > 0:
            scale = float(tensor.float().std()) * noise
            tensor = tensor + torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype) * scale
        perturbed[key] = tensor.contiguous()
    save_file(perturbed, str(paths.model_dir / "generator.safetensors"))


def train_killed_after(project: ProjectPaths, checkpoint_step: int, env: dict[str, str] | None = None) -> None:
    """`t2igan train` in `project`, killed with SIGKILL as soon as the checkpoint of `checkpoint_step` landed;
    the test fails if training finished before it could be killed."""
    process = subprocess.Popen([str(VENV_BIN / "t2igan"), "train"], cwd=project.root, env=env or tool_env())
    landed = project.checkpoints_dir / f"ckpt-{checkpoint_step:08d}.pt.sha256"
    deadline = time.monotonic() + 300
    while not landed.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "training finished before it could be killed"
