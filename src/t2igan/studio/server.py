"""Start the studio: settings from the project, then uvicorn (on 127.0.0.1 unless told otherwise).

A client's address is the connection's peer. uvicorn would take it from X-Forwarded-For of any request from
127.0.0.1, so a client on this machine could name itself anew per request and escape its rate limit: the
header is read only from the proxies `forwarded_allow_ips` names (a reverse proxy in front of the studio).
"""

from __future__ import annotations

from t2igan.config import Params
from t2igan.feedback.database import feedback_url
from t2igan.feedback.tokens import load_secret
from t2igan.paths import ProjectPaths
from t2igan.studio.app import StudioSettings, create_app
from t2igan.studio.limits import RateLimits
from t2igan.tracking import configure

SECRET_FILE = "feedback/studio.key"  # beside the default database; T2IGAN_STUDIO_SECRET overrides it


def studio_settings(params: Params, paths: ProjectPaths, limits: RateLimits | None = None) -> StudioSettings:
    configure(paths)
    return StudioSettings(
        params=params,
        paths=paths,
        feedback_url=feedback_url(paths),
        secret=load_secret(paths.root / SECRET_FILE),
        limits=limits or RateLimits(),
    )


def serve(settings: StudioSettings, host: str, port: int, forwarded_allow_ips: str | None = None) -> None:
    import uvicorn

    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        workers=1,
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
    )
