"""The studio's refusals and records, on generators that draw without a registry (the studio is given them).

tests/integration/test_studio.py runs the same routes on a real registry, a real model and a real browser.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from t2igan.feedback.database import open_database
from t2igan.feedback.tables import Vote
from t2igan.paths import ProjectPaths
from t2igan.studio.app import Studio, StudioSettings, create_app
from t2igan.studio.generation import Generators, RefusedRequest, UnknownVersion
from t2igan.studio.limits import RateLimits
from tests.support.project import tiny_params

PNG = "iVBORw0KGgo="  # what a drawn image is, to the studio: a base64 string


class Drawn(Generators):
    """Versions 1 (@champion) and 2 (@challenger, or none); each draws a string naming what it was asked."""

    def __init__(self, challenger: str | None = "2", champion: str | None = "1") -> None:
        super().__init__("t2igan")
        self.aliases = (champion, challenger)
        self.asked: list[tuple[str, str, list[int]]] = []

    def pair(self) -> tuple[str | None, str | None]:
        return self.aliases

    def max_caption_chars(self, version: str) -> int:
        if version not in {"1", "2"}:
            raise UnknownVersion(version)
        return 40

    def draw(self, version: str, caption: str, seeds: list[int], truncation: float | None) -> list[str]:
        if "refuse" in caption:
            raise RefusedRequest("row 0: the caption is 99 tokens; this model reads at most 64")
        self.asked.append((version, caption, seeds))
        return [f"{PNG}{version}-{seed}" for seed in seeds]


@contextlib.contextmanager
def _running(tmp_path: Path, generators: Generators) -> Iterator[tuple[TestClient, Studio]]:
    """The app on a studio given these generators and a new database, started (its lifespan) and stopped."""
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    settings = StudioSettings(
        tiny_params(), ProjectPaths.at(tmp_path), url, b"secret", RateLimits("1000/second")
    )
    studio = Studio(settings, generators, open_database(url))
    with TestClient(create_app(settings, studio), base_url="http://127.0.0.1") as client:
        yield client, studio


@pytest.fixture
def studio_on(tmp_path: Path) -> Iterator[Callable[..., tuple[TestClient, Studio]]]:
    with contextlib.ExitStack() as stack:

        def start(generators: Generators, name: str = "studio") -> tuple[TestClient, Studio]:
            return stack.enter_context(_running(tmp_path / name, generators))

        yield start


def _error(response: object) -> tuple[int, str]:
    return response.status_code, response.json()["error"]  # type: ignore[attr-defined]


def test_drawing_refuses_what_the_model_would_not_draw_in_one_line(studio_on: Callable[..., Any]) -> None:
    client, _ = studio_on(Drawn())
    draw = "/api/generate"
    assert _error(client.post(draw, json={"caption": "   "})) == (422, "caption: write what to draw")
    assert _error(client.post(draw, json={"caption": "x" * 41})) == (
        422,
        "caption: 41 characters; this model reads at most 40",
    )
    assert _error(client.post(draw, json={"caption": "a cat", "version": "7"})) == (
        404,
        "t2igan has no version 7",
    )
    assert _error(client.post(draw, json={"caption": "a cat", "version": "latest"}))[0] == 404
    refused = _error(client.post(draw, json={"caption": "please refuse"}))
    assert refused == (422, "row 0: the caption is 99 tokens; this model reads at most 64")
    drawn = client.post(draw, json={"caption": " a cat ", "num_images": 2, "seed": 5}).json()
    assert drawn["version"] == "1" and drawn["seeds"] == [5, 6]  # the champion, by default; caption stripped
    assert [image["png"] for image in drawn["images"]] == [f"{PNG}1-5", f"{PNG}1-6"]


def test_nothing_to_draw_or_compare_is_a_409(studio_on: Callable[..., Any]) -> None:
    empty, _ = studio_on(Drawn(champion=None, challenger=None), "empty")
    assert _error(empty.post("/api/generate", json={"caption": "a cat"})) == (
        409,
        "t2igan has no @champion yet: run the pipeline first",
    )
    alone, _ = studio_on(Drawn(challenger=None), "alone")
    assert _error(alone.post("/api/compare", json={"caption": "a cat"})) == (
        409,
        "t2igan has no @challenger besides @champion to compare with",
    )


def test_a_vote_is_recorded_with_what_was_shown_once_and_forged_tokens_are_refused(
    studio_on: Callable[..., Any],
) -> None:
    client, studio = studio_on(Drawn())
    shown = client.post("/api/compare", json={"caption": "a cat", "num_images": 1, "seed": 3}).json()
    left = shown["left"][0]["png"].removeprefix(PNG).split("-")[0]
    vote = client.post("/api/vote", json={"token": shown["token"], "choice": "left"})
    assert vote.status_code == 200 and vote.json()["versions"]["left"] == left
    again = client.post("/api/vote", json={"token": shown["token"], "choice": "right"})
    assert again.status_code == 409
    forged = shown["token"][:-4] + "AAAA"
    assert client.post("/api/vote", json={"token": forged, "choice": "left"}).status_code == 403
    with studio.sessions() as session:
        (recorded,) = session.execute(select(Vote)).scalars()
    assert (recorded.caption, recorded.choice) == ("a cat", "left")


@pytest.mark.parametrize("top_k", [0, 51])
def test_describe_refuses_a_top_k_out_of_range_before_reading_the_image(
    studio_on: Callable[..., Any], top_k: int
) -> None:
    client, _ = studio_on(Drawn())
    refused = client.post(f"/api/describe?top_k={top_k}", files={"image": ("a.png", b"not read")})
    assert _error(refused) == (422, f"top_k must be a whole number from 1 to 50, got {top_k}")


def test_an_upload_over_the_limit_is_a_413_with_or_without_a_length(studio_on: Callable[..., Any]) -> None:
    client, _ = studio_on(Drawn())
    chunk = b"x" * (1 << 20)

    def body() -> Iterator[bytes]:  # no Content-Length: the transfer is chunked
        yield from [chunk] * 9

    headers = {"content-type": "multipart/form-data; boundary=t2igan"}
    for sent in (body(), chunk * 9):
        refused = client.post("/api/describe", content=sent, headers=headers)
        assert refused.status_code == 413 and refused.json()["error"] == "request body over 8 MiB"
    # (that the rest of a chunked body is never read: tests/unit/studio/test_body_limit.py)


def test_every_response_is_typed_in_the_openapi_schema(studio_on: Callable[..., Any]) -> None:
    client, _ = studio_on(Drawn())
    schema = client.get("/api/openapi.json").json()
    for path, method, model in (
        ("/api/generate", "post", "Drawn"),
        ("/api/compare", "post", "Compared"),
        ("/api/vote", "post", "Voted"),
        ("/api/thumb", "post", "Recorded"),
        ("/api/describe", "post", "Described"),
        ("/api/registry", "get", "RegistryView"),
    ):
        responses = schema["paths"][path][method]["responses"]
        assert responses["200"]["content"]["application/json"]["schema"]["$ref"].endswith(f"/{model}")
        assert responses["429"]["content"]["application/json"]["schema"]["$ref"].endswith("/Failure")
