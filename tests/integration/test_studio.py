"""The studio on a real registry and a real feedback database: drawing, blind comparisons, votes checked
against what was shown, refusals, throttling, the human gate, hard prompts, and a real browser."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from t2igan.config import Params
from t2igan.data.hard_prompts import read_hard_prompts
from t2igan.feedback.database import open_database
from t2igan.feedback.tables import Thumb, Vote
from t2igan.paths import ProjectPaths
from t2igan.registry.human_gate import promote_from_feedback
from t2igan.studio.app import StudioSettings, create_app
from t2igan.studio.limits import RateLimits
from t2igan.tracking import configure
from tests.support.png import decode_png
from tests.support.project import cli, reset_mlflow, run_stages
from tests.support.studio import MIN_VOTES, studio_server

pytestmark = pytest.mark.slow

CAPTION = "a small red circle on the left on a white background"
GENEROUS = RateLimits(draw="1000/second", feedback="1000/second")


@pytest.fixture(scope="module")
def project(studio_project: tuple[ProjectPaths, Params]) -> tuple[ProjectPaths, Params]:
    return studio_project


def _client(project: tuple[ProjectPaths, Params], url: str, limits: RateLimits = GENEROUS) -> TestClient:
    paths, params = project
    reset_mlflow()
    configure(paths)
    settings = StudioSettings(params, paths, url, b"test-secret", limits)
    return TestClient(create_app(settings), base_url="http://127.0.0.1")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'feedback.db'}"


@pytest.fixture
def studio(project: tuple[ProjectPaths, Params], db_url: str) -> Iterator[TestClient]:
    with _client(project, db_url) as client:
        yield client


def _count(url: str, table: Any) -> int:
    with open_database(url)() as session:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())


def _votes(url: str) -> list[Vote]:
    with open_database(url)() as session:
        return list(session.execute(select(Vote).order_by(Vote.id)).scalars())


def _compare(studio: TestClient, **body: Any) -> dict[str, Any]:
    response = studio.post("/api/compare", json={"caption": CAPTION, "num_images": 2, **body})
    assert response.status_code == 200, response.text
    return response.json()


def _challenger_side(studio: TestClient, comparison: dict[str, Any]) -> str:
    """Which side version 2 drew, found as a person cannot: by drawing its images again."""
    seed = comparison["seeds"][0]
    again = studio.post(
        "/api/generate", json={"caption": CAPTION, "num_images": 2, "seed": seed, "version": "2"}
    )
    pngs = [image["png"] for image in again.json()["images"]]
    sides = [side for side in ("left", "right") if [i["png"] for i in comparison[side]] == pngs]
    assert len(sides) == 1
    return sides[0]


def test_try_mode_draws_the_champion_with_seeds_and_records_thumbs(studio: TestClient, db_url: str) -> None:
    page = studio.get("/")
    assert page.status_code == 200 and 'id="caption"' in page.text
    drawn = studio.post("/api/generate", json={"caption": CAPTION, "num_images": 4, "seed": 40})
    assert drawn.status_code == 200, drawn.text
    result = drawn.json()
    assert result["version"] == "1" and result["seeds"] == [40, 41, 42, 43]
    images = [decode_png(image["png"]) for image in result["images"]]
    assert all(image.shape == (16, 16, 3) for image in images)
    again = studio.post("/api/generate", json={"caption": CAPTION, "num_images": 1, "seed": 41}).json()
    assert again["images"][0]["png"] == result["images"][1]["png"]  # same caption and seed, same image
    truncated = studio.post(
        "/api/generate", json={"caption": CAPTION, "num_images": 1, "seed": 41, "truncation": 0.3}
    )
    assert truncated.json()["images"][0]["png"] != result["images"][1]["png"]

    down = studio.post("/api/thumb", json={"token": result["token"], "side": "single", "index": 2, "up": False})
    assert down.status_code == 200, down.text
    twice = studio.post("/api/thumb", json={"token": result["token"], "side": "single", "index": 2, "up": True})
    assert twice.status_code == 409
    with open_database(db_url)() as session:
        (thumb,) = session.execute(select(Thumb)).scalars()
    assert (thumb.version, thumb.seed, thumb.up, thumb.caption) == ("1", 42, False, CAPTION)


def test_a_comparison_is_blind_and_its_vote_is_stored_with_what_was_shown(
    studio: TestClient, db_url: str
) -> None:
    comparison = _compare(studio, seed=7)
    assert set(comparison) == {"token", "seeds", "left", "right"}  # nothing says which version is where
    assert comparison["seeds"] == [7, 8]
    side = _challenger_side(studio, comparison)
    voted = studio.post("/api/vote", json={"token": comparison["token"], "choice": side})
    assert voted.status_code == 200, voted.text
    assert voted.json()["versions"][side] == "2"
    (vote,) = _votes(db_url)
    assert (vote.caption, vote.seeds, vote.choice, vote.winner_version) == (CAPTION, [7, 8], side, "2")
    assert {vote.left_version, vote.right_version} == {"1", "2"} and vote.session_id


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/generate", {"caption": ""}, 422, "caption"),
        ("/api/generate", {"caption": "   "}, 422, "write what to draw"),
        ("/api/generate", {"caption": "x" * 100_000}, 422, "at most 2000 characters"),
        ("/api/generate", {"caption": "x" * 401}, 422, "reads at most 400"),
        ("/api/generate", {"caption": CAPTION, "num_images": 99}, 422, "num_images"),
        ("/api/generate", {"caption": CAPTION, "version": "99"}, 404, "has no version 99"),
        ("/api/generate", {"caption": CAPTION, "version": "latest'"}, 404, "version number"),
        ("/api/vote", {"token": "forged.token.value", "choice": "left"}, 403, "not one this studio issued"),
        ("/api/vote", {"choice": "left"}, 422, "token"),
        ("/api/vote", {"token": "x", "choice": "middle"}, 422, "choice"),
        ("/api/vote", {"token": "x", "choice": "left", "extra": 1}, 422, "extra"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_is_written(
    studio: TestClient, db_url: str, path: str, body: dict[str, Any], status: int, message: str
) -> None:
    response = studio.post(path, json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert _count(db_url, Vote) == 0


def test_forged_replayed_and_foreign_votes_are_refused(
    project: tuple[ProjectPaths, Params], studio: TestClient, db_url: str
) -> None:
    comparison = _compare(studio)
    token = comparison["token"]
    payload, _, signature = token.rpartition(".")
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    assert studio.post("/api/vote", json={"token": tampered, "choice": "left"}).status_code == 403
    assert studio.post("/api/vote", json={"token": token, "choice": "left"}).status_code == 200
    replay = studio.post("/api/vote", json={"token": token, "choice": "right"})
    assert replay.status_code == 409 and "voted on already" in replay.json()["error"]
    # A token shown to one browser session cannot be voted with from another.
    other = _compare(studio)
    with _client(project, db_url) as stranger:
        refused = stranger.post("/api/vote", json={"token": other["token"], "choice": "left"})
    assert refused.status_code == 403 and "another session" in refused.json()["error"]
    # A single image's token is not a comparison.
    single = studio.post("/api/generate", json={"caption": CAPTION, "num_images": 1}).json()
    assert studio.post("/api/vote", json={"token": single["token"], "choice": "left"}).status_code == 403
    assert [v.choice for v in _votes(db_url)] == ["left"]


def test_a_flood_of_votes_from_one_client_is_throttled_and_no_accepted_vote_is_lost(
    project: tuple[ProjectPaths, Params], db_url: str
) -> None:
    limits = RateLimits(draw="1000/second", feedback="5/second;300/minute")
    with _client(project, db_url, limits) as studio:
        tokens = [_compare(studio)["token"] for _ in range(6)]
        codes = [
            studio.post("/api/vote", json={"token": tokens[k % len(tokens)], "choice": "left"}).status_code
            for k in range(1000)
        ]
    accepted = codes.count(200)
    assert codes.count(429) >= 900 and set(codes) <= {200, 409, 429}
    assert 1 <= accepted <= 6
    votes = _votes(db_url)
    assert len(votes) == accepted and len({v.comparison_id for v in votes}) == accepted


def test_a_client_cannot_escape_its_limit_by_naming_itself_in_x_forwarded_for(
    project: tuple[ProjectPaths, Params], db_url: str, tmp_path: Path
) -> None:
    # Given `t2igan studio` under uvicorn with a draw limit of 10 an hour, asked from this machine
    paths, _ = project
    with studio_server(paths, db_url, tmp_path / "studio.log", "--draw-limit", "10/hour") as base:
        codes = []
        for k in range(30):
            # When each request claims another client address
            forged = {"X-Forwarded-For": f"203.0.113.{k + 1}"}
            response = httpx.post(
                f"{base}/api/generate", json={"caption": CAPTION, "num_images": 1}, headers=forged, timeout=120
            )
            codes.append(response.status_code)
    # Then they are all one client (the connection's peer): ten drawn, the rest refused
    assert codes.count(200) == 10 and codes.count(429) == 20


def _waiting_reading(project: tuple[ProjectPaths, Params], url: str) -> Any:
    paths, params = project
    reset_mlflow()
    return promote_from_feedback(params, paths, open_database(url))


def _vote_for(studio: TestClient, version: str, times: int) -> None:
    for _ in range(times):
        comparison = _compare(studio)
        side = _challenger_side(studio, comparison)
        choice = side if version == "2" else {"left": "right", "right": "left"}[side]
        assert (
            studio.post("/api/vote", json={"token": comparison["token"], "choice": choice}).status_code == 200
        )


def test_the_human_gate_waits_for_enough_votes_and_refuses_a_worse_win_rate(
    project: tuple[ProjectPaths, Params], studio: TestClient, db_url: str, tmp_path: Path
) -> None:
    _vote_for(studio, "2", MIN_VOTES - 1)
    outcome = _waiting_reading(project, db_url)
    assert not outcome.promoted and f"{MIN_VOTES - 1} of {MIN_VOTES} decided comparisons" in outcome.reason
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias("t2igan", "champion").version) == "1"

    worse = f"sqlite:///{tmp_path / 'worse.db'}"
    with _client(project, worse) as other:
        _vote_for(other, "1", MIN_VOTES + 2)
        _vote_for(other, "2", 1)
    outcome = _waiting_reading(project, worse)
    assert not outcome.promoted and "do not prefer it enough" in outcome.reason
    assert outcome.win_rate is not None and (outcome.win_rate.wins, outcome.win_rate.losses) == (
        1,
        MIN_VOTES + 2,
    )
    tags = client.get_model_version("t2igan", "2").tags
    assert json.loads(tags["feedback"])["decided"] == MIN_VOTES + 3
    assert str(client.get_model_version_by_alias("t2igan", "champion").version) == "1"
    run = client.get_run(client.get_model_version("t2igan", "2").run_id)
    assert run.data.metrics["human_votes"] == MIN_VOTES + 3
    assert run.data.metrics["human_win_rate"] == pytest.approx(1 / (MIN_VOTES + 3))


def test_both_bad_and_thumbs_down_become_hard_prompts_that_evaluate_scores_and_the_report_shows(
    project: tuple[ProjectPaths, Params], studio: TestClient, db_url: str
) -> None:
    from flows.run_report import render_markdown, summarize

    paths, params = project
    comparison = studio.post("/api/compare", json={"caption": "a large purple diamond", "num_images": 1}).json()
    studio.post("/api/vote", json={"token": comparison["token"], "choice": "both_bad"})
    single = studio.post("/api/generate", json={"caption": CAPTION, "num_images": 2}).json()
    studio.post("/api/thumb", json={"token": single["token"], "side": "single", "index": 0, "up": False})
    studio.post("/api/thumb", json={"token": single["token"], "side": "single", "index": 1, "up": True})

    done = cli("prompts", cwd=paths.root, env=_env(db_url))
    assert done.returncode == 0, done.stderr
    assert "2 hard prompts" in done.stdout
    assert read_hard_prompts(paths.hard_prompts) == ["a large purple diamond", CAPTION]
    first = paths.hard_prompts.read_bytes()
    assert cli("prompts", cwd=paths.root, env=_env(db_url)).returncode == 0
    assert paths.hard_prompts.read_bytes() == first  # the same feedback, the same bytes: DVC sees no change

    # The next evaluation scores them apart, and the flow's report shows it.
    reset_mlflow()
    metrics = run_stages(params, paths, "evaluate")["evaluate"].metrics
    assert metrics["hard_prompts"] == 2 and 0 <= metrics["hard_prompts_alignment"] <= 1
    report = render_markdown(summarize(paths.root, [], feedback=None))
    assert (
        f"hard prompts from people's feedback (2): alignment {metrics['hard_prompts_alignment']:.3f}" in report
    )

    listed = cli("feedback", "report", "--json", cwd=paths.root, env=_env(db_url))
    assert listed.returncode == 0, listed.stderr
    summary = json.loads(listed.stdout)
    assert summary["votes"] == 1 and summary["hard_prompts"] == 2
    assert summary["pairs"][0]["both_bad"] == 1 and summary["pairs"][0]["decided"] == 0
    assert summary["thumbs"] == [{"version": "1", "up": 1, "down": 1}]


def test_the_registry_view_shows_aliases_figures_and_the_waiting_challenger(studio: TestClient) -> None:
    view = studio.get("/api/registry").json()
    versions = {v["version"]: v for v in view["versions"]}
    assert versions["1"]["aliases"] == ["champion"] and versions["2"]["aliases"] == ["challenger"]
    assert versions["2"]["awaiting_votes"] and versions["2"]["fid"] < versions["1"]["fid"]
    assert versions["2"]["win_rate"]["decided"] == 0
    assert versions["1"]["beyond_inception"] == {}  # no evaluate.feature_networks in this project
    assert [h["version"] for h in view["history"]] == ["1"]


def _env(db_url: str) -> dict[str, str]:
    from tests.support.project import tool_env

    return tool_env(T2IGAN_FEEDBACK_URL=db_url)


def test_the_describe_tab_names_training_captions_for_an_uploaded_image(
    project: tuple[ProjectPaths, Params], studio: TestClient
) -> None:
    import io

    from PIL import Image

    from t2igan.data.store import open_store

    paths, _ = project
    buffer = io.BytesIO()
    Image.fromarray(open_store(paths.image_store)[0]).save(buffer, format="PNG")
    found = studio.post("/api/describe?top_k=3", files={"image": ("shape.png", buffer.getvalue(), "image/png")})
    assert found.status_code == 200, found.text
    matches = found.json()["matches"]
    assert len(matches) == 3 and [m["score"] for m in matches] == sorted(
        (m["score"] for m in matches), reverse=True
    )
    assert all(m["caption"] for m in matches)
    refused = studio.post("/api/describe", files={"image": ("notes.txt", b"not an image", "text/plain")})
    assert refused.status_code == 422 and refused.json()["error"]
    assert (
        studio.post("/api/describe?top_k=99", files={"image": ("a.png", buffer.getvalue())}).status_code == 422
    )


def test_the_studio_sends_pngs_of_the_model_s_size_that_decode_png_reads(studio: TestClient) -> None:
    drawn = studio.post("/api/generate", json={"caption": CAPTION, "num_images": 2, "seed": 3}).json()
    first, second = (decode_png(image["png"]) for image in drawn["images"])
    assert first.shape == second.shape == (16, 16, 3) and first.dtype == np.uint8
    assert not np.array_equal(first, second)  # two seeds, two images


def _browser() -> Any:
    """Headless Chromium (Debian's chromium and chromium-driver) through Selenium, nothing downloaded."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    return webdriver.Chrome(
        options=options, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    )


def _screenshots(tmp_path: Path) -> Path:
    """Where the browser test saves its screenshots: T2IGAN_SCREENSHOTS (`make screenshots`: docs/studio)."""
    directory = Path(os.environ.get("T2IGAN_SCREENSHOTS") or tmp_path / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _try_in_browser(browser: Any, shots: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.find_element(By.ID, "caption").send_keys(CAPTION)
    browser.find_element(By.ID, "generate").click()
    WebDriverWait(browser, 60).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#images img")) == 4)
    assert "version 1" in browser.find_element(By.ID, "try-meta").text
    browser.save_screenshot(str(shots / "studio-try.png"))


def _vote_in_browser_for_version_2(browser: Any, base: str, shots: Path) -> None:
    """Compare and vote MIN_VOTES times for whichever side version 2 drew (found by drawing it again)."""
    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.find_element(By.ID, "tab-compare").click()
    browser.find_element(By.ID, "compare-caption").send_keys(CAPTION)
    for round_ in range(MIN_VOTES):
        browser.find_element(By.ID, "compare-button").click()
        wait.until(lambda b: b.find_element(By.ID, "vote-left").is_enabled())
        left = [img.get_attribute("src") for img in browser.find_elements(By.CSS_SELECTOR, "#left img")]
        seed = int(browser.find_element(By.CSS_SELECTOR, "#left img").get_attribute("data-seed"))
        again = httpx.post(
            f"{base}/api/generate",
            json={"caption": CAPTION, "num_images": len(left), "seed": seed, "version": "2"},
            timeout=60,
        ).json()
        drawn = [f"data:image/png;base64,{image['png']}" for image in again["images"]]
        challenger = "left" if drawn == left else "right"
        if round_ == 0:
            browser.save_screenshot(str(shots / "studio-compare.png"))
        browser.find_element(By.ID, f"vote-{challenger}").click()
        wait.until(lambda b: "recorded" in b.find_element(By.ID, "vote-status").text)
        assert f"{challenger} was version 2" in browser.find_element(By.ID, "vote-status").text


def test_in_a_real_browser_people_try_compare_and_vote_and_the_human_gate_promotes(
    project: tuple[ProjectPaths, Params], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    paths, _ = project
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    shots = _screenshots(tmp_path)
    server = studio_server(paths, url, tmp_path / "studio.log", "--draw-limit", "100/second")
    with server as base, _browser() as browser:
        browser.get(base)
        _try_in_browser(browser, shots)
        _vote_in_browser_for_version_2(browser, base, shots)
        votes = _votes(url)
        assert len(votes) == MIN_VOTES and {v.winner_version for v in votes} == {"2"}
        assert len({v.session_id for v in votes}) == 1  # one browser, one anonymous session

        done = cli("promote", "--from-feedback", cwd=paths.root, env=_env(url))
        assert done.returncode == 0, done.stderr
        assert "version 2 promoted to @champion: people prefer it: preferred in 3 of 3" in done.stdout

        browser.find_element(By.ID, "tab-registry").click()
        row = "#versions tbody tr[data-version='2']"
        WebDriverWait(browser, 60).until(lambda b: "@champion" in b.find_element(By.CSS_SELECTOR, row).text)
        assert "human gate" in browser.find_element(By.ID, "history").text
        browser.save_screenshot(str(shots / "studio-registry.png"))

    reset_mlflow()
    configure(paths)
    champion = mlflow.MlflowClient().get_model_version_by_alias("t2igan", "champion")
    assert str(champion.version) == "2" and champion.tags["champion.previous"] == "1"
    assert json.loads(champion.tags["champion.feedback"])["wins"] == MIN_VOTES
