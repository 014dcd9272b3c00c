"""The studio's web application: the page, and a JSON API behind it.

Every page of images carries a signed token of what was shown (t2igan.feedback.tokens); votes and thumbs
send it back and are checked against it. The browser gets an anonymous session id in a cookie, nothing
else about the person is kept. Bad input gets a 4xx with a one-line `error`: an empty or over-long caption,
an unknown version, too many images, a forged, replayed or malformed vote, too many requests.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from t2igan.config import Params
from t2igan.describe.checks import DEFAULT_TOP_K, BadDescribeRequest, check_top_k
from t2igan.feedback.database import open_database
from t2igan.feedback.tables import BOTH_BAD, LEFT, RIGHT, SINGLE
from t2igan.feedback.tokens import InvalidToken, Shown, Signer
from t2igan.feedback.votes import AlreadyRecorded, RefusedFeedback, record_thumb, record_vote
from t2igan.paths import ProjectPaths
from t2igan.studio.generation import Generators, RefusedRequest, UnknownVersion
from t2igan.studio.limits import RateLimits, Throttle
from t2igan.studio.registry_view import registry_view

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
SESSION_COOKIE = "t2igan_session"
MAX_IMAGES = 8  # per page (a comparison draws twice as many)
MAX_CAPTION_CHARS = 2000  # before the model's own limit is asked: a 100,000-character caption costs nothing
MAX_BODY_BYTES = 8 << 20  # an uploaded image to describe, at most
SEED_LIMIT = 2**62


@dataclass(frozen=True)
class StudioSettings:
    params: Params
    paths: ProjectPaths
    feedback_url: str
    secret: bytes
    limits: RateLimits = field(default_factory=RateLimits)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class DrawRequest(_Request):
    caption: str = Field(min_length=1, max_length=MAX_CAPTION_CHARS)
    num_images: int = Field(4, ge=1, le=MAX_IMAGES)
    seed: int | None = Field(None, ge=0, le=SEED_LIMIT)
    truncation: float | None = Field(None, ge=0, le=10)
    version: str | None = Field(None, max_length=40, description="a version number; default @champion")


class VoteRequest(_Request):
    token: str = Field(min_length=1, max_length=8192)
    choice: Literal["left", "right", "both_bad"]


class ThumbRequest(_Request):
    token: str = Field(min_length=1, max_length=8192)
    side: Literal["left", "right", "single"]
    index: int = Field(ge=0, lt=MAX_IMAGES)
    up: bool


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class StudioError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "request"
    return f"{where}: {first.get('msg', 'invalid')}"


class Studio:
    """The state behind the routes: the registry's generators, the feedback database, the signer.

    It is given its generators and its database (`from_settings` opens the project's), so what it refuses
    and what it records can be checked on any of them.
    """

    def __init__(
        self, settings: StudioSettings, generators: Generators, sessions: sessionmaker[Session]
    ) -> None:
        self.settings = settings
        self.model_name = settings.params.register_.model_name
        self.generators = generators
        self.sessions = sessions
        self.signer = Signer(settings.secret)
        self.throttle = Throttle(settings.limits)
        self._describer: Any = None

    @classmethod
    def from_settings(cls, settings: StudioSettings) -> Studio:
        """The registry's models of the project's model name, and its feedback database (migrated)."""
        model_name = settings.params.register_.model_name
        return cls(settings, Generators(model_name), open_database(settings.feedback_url))

    def check_caption(self, caption: str, version: str) -> str:
        caption = caption.strip()
        if not caption:
            raise StudioError(422, "caption: write what to draw")
        limit = self.generators.max_caption_chars(version)
        if len(caption) > limit:
            raise StudioError(422, f"caption: {len(caption)} characters; this model reads at most {limit}")
        return caption

    def draw(self, request: DrawRequest, session_id: str) -> dict[str, Any]:
        version = request.version or self.generators.pair()[0]
        if version is None:
            raise StudioError(409, f"{self.model_name} has no @champion yet: run the pipeline first")
        caption = self.check_caption(request.caption, self._known(version))
        seeds = self._seeds(request)
        images = self._images(version, caption, seeds, request.truncation)
        shown = Shown(self.model_name, caption, seeds, {SINGLE: version}, session_id, request.truncation)
        return {"token": self.signer.sign(shown), "version": version, "seeds": seeds, "images": images}

    def compare(self, request: DrawRequest, session_id: str) -> dict[str, Any]:
        champion, challenger = self.generators.pair()
        if champion is None or challenger is None:
            raise StudioError(409, f"{self.model_name} has no @challenger besides @champion to compare with")
        caption = self.check_caption(request.caption, champion)
        seeds = self._seeds(request)
        left, right = (champion, challenger) if secrets.randbelow(2) else (challenger, champion)
        shown = Shown(
            self.model_name, caption, seeds, {LEFT: left, RIGHT: right}, session_id, request.truncation
        )
        return {
            "token": self.signer.sign(shown),
            "seeds": seeds,
            "left": self._images(left, caption, seeds, request.truncation),
            "right": self._images(right, caption, seeds, request.truncation),
        }

    def _known(self, version: str) -> str:
        if not version.isdigit():
            raise StudioError(404, f"version must be a version number, got {version!r}")
        try:
            self.generators.max_caption_chars(version)
        except UnknownVersion:
            raise StudioError(404, f"{self.model_name} has no version {version}") from None
        return version

    @staticmethod
    def _seeds(request: DrawRequest) -> list[int]:
        base = request.seed if request.seed is not None else secrets.randbelow(2**31)
        return [base + k for k in range(request.num_images)]

    def _images(
        self, version: str, caption: str, seeds: list[int], truncation: float | None
    ) -> list[dict[str, Any]]:
        try:
            pngs = self.generators.draw(version, caption, seeds, truncation)
        except RefusedRequest as exc:
            raise StudioError(422, str(exc)) from None
        return [{"seed": seed, "png": png} for seed, png in zip(seeds, pngs, strict=True)]

    def verify(self, token: str) -> Shown:
        try:
            shown = self.signer.verify(token)
        except InvalidToken as exc:
            raise StudioError(403, str(exc)) from None
        if shown.model_name != self.model_name:
            raise StudioError(403, "the comparison was made for another model")
        return shown

    def vote(self, request: VoteRequest, session_id: str) -> dict[str, Any]:
        shown = self.verify(request.token)
        try:
            vote = record_vote(self.sessions, shown, request.choice, session_id)
        except AlreadyRecorded as exc:
            raise StudioError(409, str(exc)) from None
        except RefusedFeedback as exc:
            raise StudioError(403, str(exc)) from None
        revealed = {side: shown.versions[side] for side in (LEFT, RIGHT)}
        return {"recorded": True, "choice": vote.choice, "versions": revealed}

    def thumb(self, request: ThumbRequest, session_id: str) -> dict[str, Any]:
        shown = self.verify(request.token)
        try:
            record_thumb(self.sessions, shown, request.side, request.index, request.up, session_id)
        except AlreadyRecorded as exc:
            raise StudioError(409, str(exc)) from None
        except RefusedFeedback as exc:
            raise StudioError(403, str(exc)) from None
        return {"recorded": True}

    def registry(self) -> dict[str, Any]:
        gate = self.settings.params.register_.human_gate
        return registry_view(self.model_name, self.sessions, gate.confidence, gate.min_votes)

    def describe(self, image: bytes, top_k: int) -> dict[str, Any]:
        from t2igan.describe.index import CaptionIndex
        from t2igan.errors import T2iganError

        try:
            if self._describer is None:
                self._describer = CaptionIndex.load(self.settings.params, self.settings.paths)
            matches = self._describer.describe(image, top_k=top_k)
        except BadDescribeRequest as exc:
            raise StudioError(422, str(exc)) from None
        except T2iganError as exc:  # the project's data is not there (the pipeline has not run)
            raise StudioError(409, str(exc)) from None
        return {"matches": [{"caption": m.caption, "score": m.score} for m in matches]}


def create_app(studio: Studio) -> FastAPI:
    app = FastAPI(title="t2igan studio", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.studio = studio
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _install_session_and_errors(app)
    _install_drawing(app, studio)
    _install_feedback(app, studio)
    return app


def _install_session_and_errors(app: FastAPI) -> None:
    @app.middleware("http")
    async def anonymous_session(request: Request, call_next: Any) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return _error(413, f"request body over {MAX_BODY_BYTES >> 20} MiB")
        cookie = request.cookies.get(SESSION_COOKIE)
        fresh = cookie is None or not _is_uuid(cookie)
        session_id = str(uuid.uuid4()) if fresh or cookie is None else cookie
        request.state.session_id = session_id
        response: Response = await call_next(request)
        if fresh:
            response.set_cookie(
                SESSION_COOKIE, session_id, httponly=True, samesite="strict", max_age=30 * 86400
            )
        return response

    @app.exception_handler(StudioError)
    async def studio_error(_request: Request, exc: StudioError) -> JSONResponse:
        return _error(exc.status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(exc))

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}


def _throttled(studio: Studio, kind: str, request: Request) -> None:
    client = request.client.host if request.client else "unknown"
    if not studio.throttle.allow(kind, client):
        raise StudioError(429, "too many requests: slow down")


def _install_drawing(app: FastAPI, studio: Studio) -> None:
    @app.post("/api/generate")
    async def generate(body: DrawRequest, request: Request) -> dict[str, Any]:
        _throttled(studio, "draw", request)
        return await run_in_threadpool(studio.draw, body, request.state.session_id)

    @app.post("/api/compare")
    async def compare(body: DrawRequest, request: Request) -> dict[str, Any]:
        _throttled(studio, "draw", request)
        return await run_in_threadpool(studio.compare, body, request.state.session_id)

    @app.get("/api/registry")
    async def registry() -> dict[str, Any]:
        return await run_in_threadpool(studio.registry)

    @app.post("/api/describe")
    async def describe(
        request: Request, image: UploadFile = File(...), top_k: int = DEFAULT_TOP_K
    ) -> dict[str, Any]:
        _throttled(studio, "draw", request)
        try:
            check_top_k(top_k)
        except BadDescribeRequest as exc:
            raise StudioError(422, str(exc)) from None
        data = await image.read(MAX_BODY_BYTES + 1)
        if len(data) > MAX_BODY_BYTES:
            raise StudioError(413, f"image over {MAX_BODY_BYTES >> 20} MiB")
        return await run_in_threadpool(studio.describe, data, top_k)


def _install_feedback(app: FastAPI, studio: Studio) -> None:
    @app.post("/api/vote")
    async def vote(body: VoteRequest, request: Request) -> dict[str, Any]:
        _throttled(studio, "feedback", request)
        return await run_in_threadpool(studio.vote, body, request.state.session_id)

    @app.post("/api/thumb")
    async def thumb(body: ThumbRequest, request: Request) -> dict[str, Any]:
        _throttled(studio, "feedback", request)
        return await run_in_threadpool(studio.thumb, body, request.state.session_id)


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


__all__ = ["BOTH_BAD", "StudioSettings", "create_app"]
