"""A body sent without a length is refused the moment it passes the limit: the rest is never read."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from t2igan.studio.body_limit import BodyLimit

MIB = 1 << 20


async def _reads_everything(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An app that reads the whole body before answering (as a form parser does), then says how much."""
    body = await Request(scope, receive).body()
    await JSONResponse({"read": len(body)})(scope, receive, send)


def _post(app: Any, chunks: int, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[str, Any], int]:
    """(status, JSON body, chunks the app pulled) for a body of `chunks` MiB, streamed a MiB at a time."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * MIB, "more_body": pulled < chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), pulled


def test_a_chunked_body_is_refused_as_it_passes_the_limit_and_the_rest_is_never_read() -> None:
    status, answer, pulled = _post(BodyLimit(_reads_everything, max_bytes=8 * MIB), chunks=64, headers=[])
    assert (status, answer) == (413, {"error": "request body over 8 MiB"})
    assert pulled == 9  # the ninth MiB passed the limit: 55 were never asked for


def test_a_declared_length_over_the_limit_is_refused_before_reading_and_one_within_is_read_whole() -> None:
    limited = BodyLimit(_reads_everything, max_bytes=8 * MIB)
    status, _, pulled = _post(limited, chunks=9, headers=[(b"content-length", str(9 * MIB).encode())])
    assert (status, pulled) == (413, 0)
    status, answer, pulled = _post(limited, chunks=3, headers=[(b"content-length", str(3 * MIB).encode())])
    assert (status, answer, pulled) == (200, {"read": 3 * MIB}, 3)
