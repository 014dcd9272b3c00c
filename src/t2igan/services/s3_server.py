"""Team mode's S3 endpoint: moto's server application, with its control plane shut.

`moto_server` also answers `/moto-api/` without authentication: a dashboard, a dump of every backend's data
(the IAM access keys among it) and a reset. On an address other hosts can reach that would hand anyone the
team's S3 key, so this runs moto's own application behind a middleware that answers 404 there, and serves a
health path of its own that does not count among the requests moto answers before it enforces IAM
authentication (t2igan.services.s3).

    python -m t2igan.services.s3_server --host 10.0.0.5 --port 5555
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import Any

HEALTH_PATH = "/t2igan-health"
CONTROL_PLANE = "/moto-api"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def guarded(app: WsgiApp) -> WsgiApp:
    """`app` with its control plane answering 404 and a health path answering 200."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == HEALTH_PATH:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if path.startswith(CONTROL_PLANE):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not served here\n"]
        return app(environ, start_response)

    return serve


def main(argv: list[str] | None = None) -> None:
    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = guarded(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
