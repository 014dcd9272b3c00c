"""The studio's API routes, on the app's one `Studio` (made in the lifespan) through FastAPI's dependencies:
the studio itself, the browser's anonymous session, and each client's rate limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from t2igan.describe.checks import DEFAULT_TOP_K, BadDescribeRequest, check_top_k
from t2igan.studio.messages import (
    Compared,
    Described,
    Drawn,
    DrawRequest,
    Failure,
    Recorded,
    RegistryView,
    ThumbRequest,
    Voted,
    VoteRequest,
)
from t2igan.studio.state import Studio, StudioError

REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": Failure} for status in (403, 404, 409, 413, 422, 429)
}


def studio(request: Request) -> Studio:
    state: Studio = request.app.state.studio
    return state


def session_id(request: Request) -> str:
    """The browser's anonymous session (set by the app's cookie middleware)."""
    return str(request.state.session_id)


def throttled(kind: str) -> Callable[..., None]:
    """A dependency counting one request of `kind` from the client, refusing with a 429 past its limits.

    The client is the connection's peer: a proxy's X-Forwarded-For counts only when the studio was started
    trusting that proxy (`t2igan studio --forwarded-allow-ips`), so a client cannot name itself anew per
    request to escape its limit.
    """

    def check(request: Request, state: Studio = Depends(studio)) -> None:
        client = request.client.host if request.client else "unknown"
        if not state.throttle.allow(kind, client):
            raise StudioError(429, "too many requests: slow down")

    return check


StudioDep = Annotated[Studio, Depends(studio)]
SessionDep = Annotated[str, Depends(session_id)]

# Each client's rate limits come with the router: drawing (generate, compare, describe) and feedback (votes,
# thumbs) counted apart; reading the registry is not limited.
drawing = APIRouter(prefix="/api", responses=REFUSALS, dependencies=[Depends(throttled("draw"))])
browsing = APIRouter(prefix="/api", responses=REFUSALS)
feedback = APIRouter(prefix="/api", responses=REFUSALS, dependencies=[Depends(throttled("feedback"))])


@drawing.post("/generate", response_model=Drawn)
async def generate(body: DrawRequest, state: StudioDep, session: SessionDep) -> dict[str, Any]:
    return await run_in_threadpool(state.draw, body, session)


@drawing.post("/compare", response_model=Compared)
async def compare(body: DrawRequest, state: StudioDep, session: SessionDep) -> dict[str, Any]:
    return await run_in_threadpool(state.compare, body, session)


@drawing.post("/describe", response_model=Described)
async def describe(
    state: StudioDep, image: UploadFile = File(...), top_k: int = DEFAULT_TOP_K
) -> dict[str, Any]:
    try:
        check_top_k(top_k)
    except BadDescribeRequest as exc:
        raise StudioError(422, str(exc)) from None
    return await run_in_threadpool(state.describe, await image.read(), top_k)


@browsing.get("/registry", response_model=RegistryView)
async def registry(state: StudioDep) -> dict[str, Any]:
    return await run_in_threadpool(state.registry)


@feedback.post("/vote", response_model=Voted)
async def vote(body: VoteRequest, state: StudioDep, session: SessionDep) -> dict[str, Any]:
    return await run_in_threadpool(state.vote, body, session)


@feedback.post("/thumb", response_model=Recorded)
async def thumb(body: ThumbRequest, state: StudioDep, session: SessionDep) -> dict[str, Any]:
    return await run_in_threadpool(state.thumb, body, session)
