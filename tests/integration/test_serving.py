"""A real `mlflow models serve` of the champion on 127.0.0.1: images for good requests, 4xx for bad ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pandas as pd
import pytest

from t2igan.paths import ProjectPaths
from tests.support.png import decode_png
from tests.support.project import VENV_BIN, checked, tool_env
from tests.support.services import _start, _stop, _wait, free_port, model_server, post_invocations
from tests.support.templates import ProjectTemplates, copy_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained_project(studio_project: tuple[ProjectPaths, Any]) -> ProjectPaths:
    """The studio's project, built once per session: serving only reads its @champion (version 1)."""
    return studio_project[0]


@pytest.fixture(scope="module")
def server(trained_project: ProjectPaths, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("serve") / "server.log"
    uri = f"sqlite:///{trained_project.mlruns / 'mlflow.db'}"
    with model_server("models:/t2igan@champion", uri, log_path=log) as base:
        yield base


def test_good_request_returns_pngs_and_seeds(server: str) -> None:
    body = {
        "dataframe_records": [
            {"caption": "a small blue square on the left on a white background", "seed": 11, "num_images": 2},
            {"caption": "a large yellow circle in the center", "seed": 0, "num_images": 1},
        ]
    }
    status, payload = post_invocations(server, json.dumps(body))
    assert status == 200, payload
    rows = payload["predictions"]
    assert [r["row"] for r in rows] == [0, 0, 1] and [r["seed"] for r in rows[:2]] == [11, 12]
    assert all(decode_png(r["image"]).shape == (16, 16, 3) for r in rows)
    # The same caption and seed give the same image.
    again = post_invocations(server, json.dumps({"dataframe_records": [body["dataframe_records"][0]]}))[1][
        "predictions"
    ]
    assert again[0]["image"] == rows[0]["image"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"dataframe_records": [{"seed": 1}]}, "caption"),
        ({"dataframe_records": [{"caption": "x" * 401}]}, "limit 400"),
        ({"dataframe_records": [{"caption": "a red circle", "num_images": 99}]}, "between 1 and 16"),
        ({"dataframe_records": [{"caption": "   "}]}, "non-empty"),
        ("{not json", "valid JSON formatted string"),
        ({"dataframe_records": [{"caption": "a red circle", "seed": "abc"}]}, "seed must be a whole number"),
        ({"dataframe_records": [{"caption": "a red circle", "seed": True}]}, "seed must be a whole number"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_message(server: str, body: object, message: str) -> None:
    status, payload = post_invocations(server, body if isinstance(body, str) else json.dumps(body))
    assert 400 <= status < 500, (status, payload)
    assert message in payload.get("message", "")
    status, _ = post_invocations(server, json.dumps({"dataframe_records": [{"caption": "still serving"}]}))
    assert status == 200


def test_a_seed_in_some_rows_only_is_kept_where_given(server: str) -> None:
    body = {"dataframe_records": [{"caption": "a red circle", "seed": 5}, {"caption": "a blue square"}]}
    status, payload = post_invocations(server, json.dumps(body))
    assert status == 200, payload
    assert [r["row"] for r in payload["predictions"]] == [0, 1] and payload["predictions"][0]["seed"] == 5


def test_a_tiny_truncation_is_answered_with_images(server: str) -> None:
    """Rejection sampling of |z| < 1e-9 would redraw for ever; the server answers well inside its deadline."""
    records = [{"caption": "a red circle", "seed": 3, "num_images": 2}]
    status, payload = post_invocations(
        server, json.dumps({"dataframe_records": records, "params": {"truncation": 1e-9}})
    )
    assert status == 200, payload
    assert len(payload["predictions"]) == 2


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([{"caption": "a red circle", "num_images": 16}] * 1000, "at most 256 images per request"),
        ([{"caption": "a red circle", "seed": 1.5}], "seed must be a whole number"),
        ([{"caption": "a red circle", "seed": 2**63}], "below 2**63"),
    ],
)
def test_requests_past_the_limits_are_refused(server: str, records: list[dict], message: str) -> None:
    status, payload = post_invocations(server, json.dumps({"dataframe_records": records}))
    assert status == 400, (status, payload)
    assert message in payload.get("message", "")


def test_a_large_seed_comes_back_exactly_as_sent(server: str) -> None:
    seed = 2**53 + 1  # not a float: a float would round it
    status, payload = post_invocations(
        server, json.dumps({"dataframe_records": [{"caption": "a red circle", "seed": seed}]})
    )
    assert status == 200 and payload["predictions"][0]["seed"] == seed


def test_a_request_past_the_deadline_gets_a_504_and_the_server_keeps_serving(
    trained_project: ProjectPaths, tmp_path_factory: pytest.TempPathFactory
) -> None:
    log = tmp_path_factory.mktemp("serve-deadline") / "server.log"
    uri = f"sqlite:///{trained_project.mlruns / 'mlflow.db'}"
    with model_server(
        "models:/t2igan@champion", uri, log_path=log, extra_env={"T2IGAN_REQUEST_SECONDS": "0"}
    ) as base:
        status, payload = post_invocations(
            base, json.dumps({"dataframe_records": [{"caption": "a red circle", "num_images": 16}] * 4})
        )
        assert status == 504, (status, payload)
        assert "took longer than" in payload.get("message", "")
        # The first batch always runs, so one image is answered: the process is still serving.
        status, _ = post_invocations(base, json.dumps({"dataframe_records": [{"caption": "a red circle"}]}))
        assert status == 200


def test_t2igan_serve_serves_the_new_champion_when_the_alias_moves(
    templates: ProjectTemplates, tmp_path: Path
) -> None:
    # Given `t2igan serve` on a copy of the studio's project (version 1 @champion, version 2 waiting)
    from tests.support.studio import champion_and_waiting_challenger

    built = templates.built("studio", lambda root: champion_and_waiting_challenger(root, templates))
    paths = copy_project(built, tmp_path / "project")
    port, log = free_port(), tmp_path / "serve.log"
    command = [str(VENV_BIN / "t2igan"), "serve", "--port", str(port), "--check-seconds", "0.5"]
    process = _start(command, paths.root, tool_env(), log)
    base = f"http://127.0.0.1:{port}"
    request = json.dumps({"dataframe_records": [{"caption": "a large red circle", "seed": 3}]})
    try:
        _wait(lambda: httpx.get(f"{base}/ping", timeout=2).status_code == 200, process, log, "t2igan serve")
        before = post_invocations(base, request)[1]["predictions"][0]["image"]

        # When version 2 is promoted by hand
        checked([str(VENV_BIN / "t2igan"), "promote", "--version", "2", "--reason", "test"], paths.root)

        # Then the same address answers with version 2's images, with no restart by anyone
        _wait(lambda: "serving it" in log.read_text(), process, log, "the move to version 2", 120)
        _wait(lambda: httpx.get(f"{base}/ping", timeout=2).status_code == 200, process, log, "version 2")
        after = post_invocations(base, request)[1]["predictions"][0]["image"]
    finally:
        _stop(process, log)
    assert process.returncode is not None
    assert after != before
    tracking = f"sqlite:///{paths.mlruns / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    expected = mlflow.pyfunc.load_model("models:/t2igan/2").predict(
        pd.DataFrame([{"caption": "a large red circle", "seed": 3}])
    )
    assert after == expected["image"][0]
