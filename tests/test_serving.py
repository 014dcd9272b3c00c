"""A real `mlflow models serve` of the champion on 127.0.0.1: images for good requests, 4xx for bad ones."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import VENV_BIN
from t2igan.env import OFFLINE_DEFAULTS
from t2igan.paths import ProjectPaths
from t2igan.registry.pyfunc import decode_png

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(trained_project: ProjectPaths, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        **OFFLINE_DEFAULTS,
        "MLFLOW_TRACKING_URI": f"sqlite:///{trained_project.mlruns / 'mlflow.db'}",
        # mlflow starts `uvicorn` by name: the environment's scripts must be on PATH
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = (tmp_path_factory.mktemp("serve") / "server.log").open("w")
    process = subprocess.Popen(
        [
            str(VENV_BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            "models:/t2igan@champion",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"server did not start:\n{Path(log.name).read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _post(base: str, body: bytes | str) -> tuple[int, dict]:
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(
        f"{base}/invocations", data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_good_request_returns_pngs_and_seeds(server: str) -> None:
    body = {
        "dataframe_records": [
            {"caption": "a small blue square on the left on a white background", "seed": 11, "num_images": 2},
            {"caption": "a large yellow circle in the center", "seed": 0, "num_images": 1},
        ]
    }
    status, payload = _post(server, json.dumps(body))
    assert status == 200, payload
    rows = payload["predictions"]
    assert [r["row"] for r in rows] == [0, 0, 1] and [r["seed"] for r in rows[:2]] == [11, 12]
    assert all(decode_png(r["image"]).shape == (16, 16, 3) for r in rows)
    # The same caption and seed give the same image.
    again = _post(server, json.dumps({"dataframe_records": [body["dataframe_records"][0]]}))[1]["predictions"]
    assert again[0]["image"] == rows[0]["image"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"dataframe_records": [{"seed": 1}]}, "caption"),
        ({"dataframe_records": [{"caption": "x" * 401}]}, "limit 400"),
        ({"dataframe_records": [{"caption": "a red circle", "num_images": 99}]}, "between 1 and 16"),
        ({"dataframe_records": [{"caption": "   "}]}, "non-empty"),
        ("{not json", ""),
        ({"dataframe_records": [{"caption": "a red circle", "seed": "abc"}]}, ""),
        ({"dataframe_records": [{"caption": "a", "seed": 1}, {"caption": "b"}]}, ""),  # seed in some rows only
    ],
)
def test_bad_requests_get_a_4xx_with_a_message(server: str, body: object, message: str) -> None:
    status, payload = _post(server, body if isinstance(body, str) else json.dumps(body))
    assert 400 <= status < 500, (status, payload)
    assert message in payload.get("message", "")
    status, _ = _post(server, json.dumps({"dataframe_records": [{"caption": "still serving"}]}))
    assert status == 200
