"""Serve @champion over HTTP and follow it: `mlflow models serve` of the version the alias names, started
again on the new version when the alias moves.

Why not `mlflow models serve -m models:/NAME@champion` alone: it resolves the alias once, when it starts, and
serves that version for as long as it runs, so after a promotion (or a rollback) the "champion" endpoint
would keep answering with the model people had voted out. Here the alias is read again every
`check_seconds`; when it names another version, the server stops and the new version is served on the same
address (requests in the few seconds between are refused: put two behind a load balancer for none). Each
server is given a version number, not the alias, so what answers is always the version logged.
"""

from __future__ import annotations

import logging
import subprocess

from t2igan.env import script, subprocess_env
from t2igan.errors import ConfigError

log = logging.getLogger(__name__)

CHAMPION = "champion"
STOP_SECONDS = 30.0


def champion_version(name: str) -> str | None:
    """The version @champion names now, or None when the model has none."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return str(mlflow.MlflowClient().get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def _serve_version(name: str, version: str, host: str, port: int) -> subprocess.Popen[bytes]:
    import mlflow

    command = [script("mlflow"), "models", "serve", "-m", f"models:/{name}/{version}"]
    command += ["--env-manager", "local", "--host", host, "--port", str(port), "--workers", "1"]
    env = subprocess_env(overrides={"MLFLOW_TRACKING_URI": mlflow.get_tracking_uri()})
    return subprocess.Popen(command, env=env)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def follow_champion(name: str, host: str, port: int, check_seconds: float) -> int:
    """Serve `name`@champion until the server exits (its exit code), serving each new champion in turn."""
    version = champion_version(name)
    if version is None:
        raise ConfigError(f"model {name!r} has no @champion to serve: run the pipeline first (make run)")
    log.info("serving %s version %s (@champion) on http://%s:%d", name, version, host, port)
    process = _serve_version(name, version, host, port)
    try:
        while True:
            try:
                return process.wait(timeout=check_seconds)
            except subprocess.TimeoutExpired:
                pass
            try:
                moved_to = champion_version(name)
            except Exception as exc:  # the registry briefly unreachable: keep serving what we serve
                log.warning("could not read %s@champion (%s): still serving version %s", name, exc, version)
                continue
            if moved_to is not None and moved_to != version:
                log.info("@champion moved from version %s to %s: serving it", version, moved_to)
                _stop(process)
                version = moved_to
                process = _serve_version(name, version, host, port)
    finally:
        _stop(process)
