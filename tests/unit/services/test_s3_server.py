"""The S3 endpoint's wrapper: moto's control plane (which would hand out the IAM keys) is not served."""

from __future__ import annotations

from typing import Any

from t2igan.services.s3_server import HEALTH_PATH, guarded


def _call(app: Any, path: str) -> tuple[str, bytes]:
    seen: list[str] = []
    body = b"".join(app({"PATH_INFO": path}, lambda status, headers: seen.append(status)))
    return seen[0], body


def test_the_control_plane_is_404_the_health_path_200_and_s3_passes_through() -> None:
    reached: list[str] = []

    def moto(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        reached.append(environ["PATH_INFO"])
        start_response("403 Forbidden", [])
        return [b"<Error>InvalidAccessKeyId</Error>"]

    app = guarded(moto)

    assert _call(app, "/moto-api/data.json")[0].startswith("404")
    assert _call(app, "/moto-api/reset")[0].startswith("404")
    assert _call(app, HEALTH_PATH) == ("200 OK", b"ok\n")
    assert _call(app, "/t2igan-dvc/key")[0].startswith("403")
    assert reached == ["/t2igan-dvc/key"]  # neither the control plane nor the health check reached moto
