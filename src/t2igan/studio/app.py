"""The studio's web application: the page, the JSON API behind it (t2igan.studio.routes), and what wraps
every request.

The app's lifespan opens what the studio reads (the feedback database, the registry's models) when the
server starts and lets go of it when it stops. The browser gets an anonymous session id in a cookie, nothing
else about the person is kept. Bad input gets a 4xx with a one-line `error`: an empty or over-long caption,
an unknown version, too many images, a forged, replayed or malformed vote, too many requests, a body over
the limit (refused while it arrives).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from t2igan.studio.body_limit import BodyLimit
from t2igan.studio.messages import Health
from t2igan.studio.routes import browsing, drawing, feedback
from t2igan.studio.state import Studio, StudioError, StudioSettings

STATIC = Path(__file__).with_name("static")
SESSION_COOKIE = "t2igan_session"
MAX_BODY_BYTES = 8 << 20  # an uploaded image to describe, at most


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "request"
    return f"{where}: {first.get('msg', 'invalid')}"


def create_app(settings: StudioSettings, studio: Studio | None = None) -> FastAPI:
    """The app; `studio`: one already made (its generators and database given), else the project's, made
    when the app starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.studio = studio or Studio.from_settings(settings)
        try:
            yield
        finally:
            app.state.studio.close()

    app = FastAPI(
        title="t2igan studio", docs_url="/api/docs", openapi_url="/api/openapi.json", lifespan=lifespan
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in (drawing, browsing, feedback):
        app.include_router(router)
    _install_session_and_errors(app)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)  # outermost: before any part of a body is read
    return app


def _install_session_and_errors(app: FastAPI) -> None:
    @app.middleware("http")
    async def anonymous_session(request: Request, call_next: Any) -> Response:
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

    @app.get("/healthz", response_model=Health)
    async def health() -> dict[str, str]:
        return {"status": "ok"}


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


__all__ = ["Studio", "StudioSettings", "create_app"]
