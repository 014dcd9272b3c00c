"""Real services for the integration tests and benchmarks, started on 127.0.0.1 and stopped at teardown.

- a `prefect server` with its own PREFECT_HOME on a free port, and a client for its REST API;
- a served deployment of the training flow (`t2igan flow serve`) pointed at that server;
- `mlflow models serve` of a registered model;
- a webhook receiver that records what the flow's failure hook posts.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.support.project import VENV_BIN, tool_env

TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nightly_cron_far_from_now() -> str:
    """A daily cron whose time is twelve hours away, so a served or worker-run schedule never fires mid-test.

    A fixed "0 3 * * *" did: CI running at 02:55 UTC saw the real 03:00 run start beside the test's own runs.
    """
    at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=12)
    return f"{at.minute} {at.hour} * * *"


PREFECT_DATABASE = "prefect.db"  # where a Prefect home keeps its sqlite database


def migrate_prefect_database(home: Path) -> Path:
    """A Prefect database in `home`, migrated to the installed Prefect's newest schema.

    A new Prefect home migrates its database on first start (about 5 s here, 19 s on a busy 2-core machine);
    the tests that start Prefect copy this one instead, which Prefect finds up to date.
    """
    home.mkdir(parents=True, exist_ok=True)
    checked_env = tool_env(PREFECT_HOME=str(home))
    done = subprocess.run(
        [str(VENV_BIN / "prefect"), "server", "database", "upgrade", "-y"],
        env=checked_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return home / PREFECT_DATABASE


def service_env(home: Path, api_url: str | None = None, path_prefix: Path | None = None) -> dict[str, str]:
    """A Prefect process's environment: its own home, no UI, quick polling; `path_prefix` first on PATH."""
    env = tool_env(PREFECT_HOME=str(home), PREFECT_SERVER_UI_ENABLED="false", PREFECT_RUNNER_POLL_FREQUENCY="1")
    if path_prefix:
        env["PATH"] = os.pathsep.join([str(path_prefix), env["PATH"]])
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def _stop(process: subprocess.Popen, log: Path) -> None:
    """Stop a service and everything it started (its process group), then close its log."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _start(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = log.open("w")
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait(ready: Any, process: subprocess.Popen, log: Path, what: str, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            value = ready()
            if value:
                return value
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout}s:\n{log.read_text()[-4000:]}")


class PrefectApi:
    """The few REST calls the tests make (the server's own API, no client-side settings involved)."""

    def __init__(self, url: str, auth: str | None = None) -> None:
        """`auth`: a Prefect API authentication string (`user:password`), as team mode's server wants."""
        self.url = url
        user, _, password = (auth or "").partition(":")
        self.http = httpx.Client(base_url=url, timeout=30, auth=(user, password) if auth else None)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Retry what Prefect's own client retries: 429/502/503, which the server answers when its sqlite
        database is momentarily locked (the request was rolled back, so sending it again is safe)."""
        for attempt in range(6):
            response = self.http.request(method, path, **kwargs)
            if response.status_code not in (429, 502, 503):
                return response
            time.sleep(min(2**attempt, 10))
        return response

    def healthy(self) -> bool:
        return self.http.get("/health").status_code == 200

    def deployment(self, flow: str, name: str) -> dict[str, Any] | None:
        response = self._request("GET", f"/deployments/name/{flow}/{name}")
        return response.json() if response.status_code == 200 else None

    def run_deployment(self, deployment_id: str, parameters: dict[str, Any], timeout: float = 600) -> dict:
        response = self._request(
            "POST", f"/deployments/{deployment_id}/create_flow_run", json={"parameters": parameters}
        )
        response.raise_for_status()
        run_id = response.json()["id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self._request("GET", f"/flow_runs/{run_id}").json()
            if run["state"] and run["state"]["type"] in TERMINAL:
                return run
            time.sleep(1)
        raise TimeoutError(f"flow run {run_id} did not finish in {timeout}s")

    def task_runs(self, flow_run_id: str, timeout: float = 60) -> dict[str, dict[str, Any]]:
        """The flow run's task runs once all are recorded as finished.

        Prefect 3 reports task-run states as events that the server records asynchronously, so right after a
        flow run ends its last task runs may still read as running: wait until none does.
        """
        body = {"task_runs": {"flow_run_id": {"any_": [flow_run_id]}}}
        deadline = time.monotonic() + timeout
        while True:
            runs = {run["name"]: run for run in self._request("POST", "/task_runs/filter", json=body).json()}
            settled = all(run["state"] and run["state"]["type"] in TERMINAL for run in runs.values())
            if (runs and settled) or time.monotonic() > deadline:
                return runs
            time.sleep(0.5)

    def _artifacts(self, flow_run_id: str) -> list[dict[str, Any]]:
        body = {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}}
        found: list[dict[str, Any]] = self._request("POST", "/artifacts/filter", json=body).json()
        return found

    def artifacts(self, flow_run_id: str) -> dict[str, dict[str, Any]]:
        """The run's keyed artifacts (its report), by key."""
        return {item["key"]: item for item in self._artifacts(flow_run_id) if item["key"]}

    def progress(self, flow_run_id: str) -> dict[str, float]:
        """The run's progress artifacts: percent done by description's phase (`evaluate: inception-real`)."""
        items = [item for item in self._artifacts(flow_run_id) if item["type"] == "progress"]
        return {item["description"].rsplit(" ", 1)[0]: float(item["data"]) for item in items}

    def log_line(self, flow_run_id: str, needle: str, timeout: float = 60) -> str | None:
        """The run's first log message containing `needle`, waiting for logs still being shipped."""
        body = {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200, "sort": "TIMESTAMP_DESC"}
        deadline = time.monotonic() + timeout
        while True:
            messages = [entry["message"] for entry in self._request("POST", "/logs/filter", json=body).json()]
            found = next((m for m in messages if needle in m), None)
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.5)


@contextlib.contextmanager
def prefect_server(home: Path, database: Path | None = None) -> Iterator[PrefectApi]:
    """`prefect server start` on 127.0.0.1 and a free port, with its own database under `home` (a copy of
    `database`, a migrated one, when given: see `migrate_prefect_database`)."""
    port = free_port()
    log = home / "server.log"
    home.mkdir(parents=True, exist_ok=True)
    if database is not None:
        shutil.copy2(database, home / PREFECT_DATABASE)
    process = _start(
        [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        home,
        service_env(home),
        log,
    )
    try:
        api = PrefectApi(f"http://127.0.0.1:{port}/api")
        _wait(api.healthy, process, log, "prefect server")
        yield api
    finally:
        _stop(process, log)


@contextlib.contextmanager
def served_deployment(
    project: Path, api: PrefectApi, name: str, extra_args: list[str], path_prefix: Path | None = None
) -> Iterator[dict[str, Any]]:
    """`t2igan flow serve` in the project, registered with `api`; yields the deployment."""
    log = project / f"serve-{name}.log"
    env = service_env(project / ".prefect", api.url, path_prefix)
    command = [str(VENV_BIN / "t2igan"), "flow", "serve", "--name", name, "--project", str(project)]
    process = _start([*command, *extra_args], project, env, log)
    try:
        yield _wait(lambda: api.deployment("t2igan-training", name), process, log, "served deployment")
    finally:
        _stop(process, log)


@contextlib.contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An HTTP endpoint on 127.0.0.1 that records each JSON body POSTed to it."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def model_server(
    model_uri: str,
    tracking_uri: str,
    log_path: Path,
    startup_timeout: float = 180.0,
    extra_env: dict[str, str] | None = None,
) -> Iterator[str]:
    """`mlflow models serve` of `model_uri` on 127.0.0.1 (a free port) for the block; yields the base URL.

    The server runs in this Python environment (`--env-manager local`); mlflow starts `uvicorn` by name, so
    this environment's scripts are on its PATH. `extra_env` reaches the served model (its request deadline).
    """
    port = free_port()
    command = [str(VENV_BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    process = _start(
        command, log_path.parent, tool_env(MLFLOW_TRACKING_URI=tracking_uri, **(extra_env or {})), log_path
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(
            lambda: httpx.get(f"{base}/ping", timeout=2).status_code == 200,
            process,
            log_path,
            "mlflow models serve",
            startup_timeout,
        )
        yield base
    finally:
        _stop(process, log_path)


def post_invocations(base: str, body: bytes | str) -> tuple[int, dict[str, Any]]:
    """POST a scoring request to a served model; (status, JSON body) whether it succeeded or not."""
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(
        f"{base}/invocations", data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
