"""People-facing registry actions: generate images, serve a model over HTTP, promote by hand, roll back."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from t2igan.config import load_params
from t2igan.errors import ConfigError, T2iganError
from t2igan.paths import ProjectPaths
from t2igan.registry.promotion import CHAMPION, current_champion, move_champion, now, promotion_lock
from t2igan.tracking import configure, tracking_uri


def generate_files(
    caption: str,
    model_uri: str,
    output: Path,
    num_images: int,
    seed: int,
    project: Path | None,
    truncation: float | None = None,
) -> list[Path]:
    import mlflow

    paths = ProjectPaths.at(project)
    configure(paths)
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except mlflow.exceptions.MlflowException as exc:
        raise ConfigError(f"cannot load {model_uri} from {tracking_uri(paths)}: {exc.message}") from None
    try:
        request = pd.DataFrame({"caption": [caption], "seed": [seed], "num_images": [num_images]})
        frame = model.predict(request, params={"truncation": truncation} if truncation else None)
    except mlflow.exceptions.MlflowException as exc:
        raise ConfigError(exc.message) from None
    written = []
    for k, data in enumerate(frame["image"]):
        target = output if num_images == 1 else output.with_name(f"{output.stem}-{k}{output.suffix}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data))
        written.append(target)
    return written


def _client_and_name(params_file: Path, project: Path | None):
    import mlflow

    paths = ProjectPaths.at(project)
    configure(paths)
    params = load_params(params_file)
    lock_dir = paths.mlruns if tracking_uri(paths).startswith("sqlite:") else None
    return mlflow.MlflowClient(), params.registry.model_name, lock_dir


def manual_promote(version: str, reason: str, params_file: Path, project: Path | None) -> str:
    client, name, lock_dir = _client_and_name(params_file, project)
    try:
        client.get_model_version(name, version)
    except Exception:
        raise T2iganError(f"{name} has no version {version}") from None
    with promotion_lock(lock_dir):
        previous = current_champion(client, name)
        move_champion(client, name, version, f"manual: {reason}", previous)
    return name


def rollback_champion(params_file: Path, project: Path | None) -> tuple[str, str]:
    client, name, lock_dir = _client_and_name(params_file, project)
    with promotion_lock(lock_dir):
        champion = current_champion(client, name)
        if champion is None:
            raise T2iganError(f"{name} has no @champion to roll back")
        previous = (champion.tags or {}).get("champion.previous")
        if not previous:
            raise T2iganError(f"{name} version {champion.version} replaced no earlier champion")
        client.get_model_version(name, previous)  # fails loudly if that version was deleted
        client.set_registered_model_alias(name, CHAMPION, previous)
        # The restored version keeps its own `champion.previous`, so a second rollback goes one further back.
        client.set_model_version_tag(name, previous, "champion.since", now())
        reason = f"rollback from version {champion.version}"
        client.set_model_version_tag(name, previous, "champion.reason", reason)
        client.set_model_version_tag(name, champion.version, "champion.rolled_back_at", now())
    return name, previous


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def model_server(
    model_uri: str, tracking_uri: str, log_path: Path | None = None, startup_timeout: float = 180.0
) -> Iterator[str]:
    """`mlflow models serve` of `model_uri` on 127.0.0.1 (a free port) for the block; yields the base URL.

    Used by the tests and the serving benchmark, and handy in a notebook. The server runs in this Python
    environment (`--env-manager local`); its scripts directory goes on PATH because mlflow starts `uvicorn`
    by name.
    """
    scripts = Path(sys.executable).parent
    port = _free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [
        str(scripts / "mlflow"),
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(log_path, "w")) if log_path else subprocess.DEVNULL
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        stack.callback(lambda: (process.terminate(), process.wait(timeout=30)))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    detail = Path(log_path).read_text()[-3000:] if log_path else ""
                    raise T2iganError(f"mlflow models serve of {model_uri} did not start\n{detail}") from None
                time.sleep(0.5)
        yield base
