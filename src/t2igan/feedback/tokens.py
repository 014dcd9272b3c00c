"""What the studio showed, signed: a vote or a thumb counts only for a comparison the studio really made.

Each page of images comes with a token (itsdangerous, HMAC-SHA256 with the studio's secret and a salt per
purpose) carrying the comparison id, caption, seeds, versions and their sides, the truncation and the
browser's anonymous session id. A forged or altered token fails the signature; an old one fails its age; a
replayed one fails the database's unique comparison id (t2igan.feedback.votes).
"""

from __future__ import annotations

import os
import secrets
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from t2igan.env import STUDIO_SECRET_ENV

SALT = "t2igan.studio.shown"
MAX_AGE_S = 24 * 3600  # a page left open for a day can still be voted on


class InvalidToken(ValueError):
    """A token the studio did not issue, that was altered, or that is too old."""


@dataclass(frozen=True)
class Shown:
    """One page of images: `versions[side]` drew `seeds` for `caption` (sides: left/right, or single)."""

    model_name: str
    caption: str
    seeds: list[int]
    versions: dict[str, str]
    session_id: str
    truncation: float | None = None
    comparison_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def is_comparison(self) -> bool:
        return set(self.versions) == {"left", "right"}


def load_secret(path: Path) -> bytes:
    """`T2IGAN_STUDIO_SECRET`, or a random key kept (mode 0600) at `path`, made on first use."""
    if os.environ.get(STUDIO_SECRET_ENV):
        return os.environ[STUDIO_SECRET_ENV].encode()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(temporary, path)  # the first studio to start wins; the others read its key
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip().encode()


class Signer:
    def __init__(self, secret: bytes, max_age_s: int = MAX_AGE_S) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=SALT)
        self.max_age_s = max_age_s

    def sign(self, shown: Shown) -> str:
        return self._serializer.dumps(asdict(shown))

    def verify(self, token: Any) -> Shown:
        if not isinstance(token, str) or not token:
            raise InvalidToken("the vote carries no comparison token")
        try:
            record = self._serializer.loads(token, max_age=self.max_age_s)
        except SignatureExpired:
            raise InvalidToken("the comparison is older than a day; generate it again") from None
        except BadSignature:
            raise InvalidToken("the comparison token is not one this studio issued") from None
        return Shown(**record)
