"""What the studio's API takes and gives, as pydantic models: FastAPI validates requests against them and
documents every response in its OpenAPI schema (/api/openapi.json)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_IMAGES = 8  # per page (a comparison draws twice as many)
MAX_CAPTION_CHARS = 2000  # before the model's own limit is asked: a 100,000-character caption costs nothing
SEED_LIMIT = 2**62


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


class Image(BaseModel):
    seed: int
    png: str = Field(description="base64 PNG")


class Drawn(BaseModel):
    token: str = Field(description="sign of what was shown: send it back with a thumb")
    version: str
    seeds: list[int]
    images: list[Image]


class Compared(BaseModel):
    token: str = Field(description="sign of what was shown: send it back with the vote")
    seeds: list[int]
    left: list[Image]
    right: list[Image]


class Voted(BaseModel):
    recorded: bool
    choice: str
    versions: dict[str, str] = Field(description="which version drew which side, revealed once voted")


class Recorded(BaseModel):
    recorded: bool


class Match(BaseModel):
    caption: str
    score: float


class Described(BaseModel):
    matches: list[Match]


class RegistryView(BaseModel):
    """The registry as the page shows it (t2igan.studio.registry_view)."""

    model: str
    aliases: dict[str, str]
    versions: list[dict[str, Any]]
    history: list[dict[str, Any]]


class Failure(BaseModel):
    error: str = Field(description="one line: what was refused and why")


class Health(BaseModel):
    status: str
