"""The state behind the studio's routes, and what each route does with it: draw, compare, vote, describe.

The studio is given its generators (the registry's models) and its feedback database: `from_settings` opens
the project's, a test can give it others. Every page of images carries a signed token of what was shown
(t2igan.feedback.tokens); votes and thumbs send it back and are checked against it. Refusals are
`StudioError`s with the status and one line the API answers with.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from t2igan.config import Params
from t2igan.describe.checks import BadDescribeRequest
from t2igan.feedback.database import open_database
from t2igan.feedback.tables import LEFT, RIGHT, SINGLE
from t2igan.feedback.tokens import InvalidToken, Shown, Signer
from t2igan.feedback.votes import AlreadyRecorded, RefusedFeedback, record_thumb, record_vote
from t2igan.paths import ProjectPaths
from t2igan.studio.generation import Generators, RefusedRequest, UnknownVersion
from t2igan.studio.limits import RateLimits, Throttle
from t2igan.studio.messages import DrawRequest, ThumbRequest, VoteRequest
from t2igan.studio.registry_view import registry_view


@dataclass(frozen=True)
class StudioSettings:
    params: Params
    paths: ProjectPaths
    feedback_url: str
    secret: bytes
    limits: RateLimits = field(default_factory=RateLimits)


class StudioError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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

    def close(self) -> None:
        """Let go of the feedback database's connections (the app's shutdown)."""
        bind = self.sessions.kw.get("bind")
        if bind is not None:
            bind.dispose()

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
