"""Per-client rate limits (the `limits` library's moving window, in memory: one studio process).

A person draws a few pages a minute and votes a few times a second at most; a script hammering the API
gets 429s, and what it had sent before the limit is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

DEFAULT_DRAW = "5/second;120/minute"
DEFAULT_FEEDBACK = "5/second;300/minute"


@dataclass(frozen=True)
class RateLimits:
    draw: str = DEFAULT_DRAW  # generate, compare, describe
    feedback: str = DEFAULT_FEEDBACK  # votes and thumbs


class Throttle:
    def __init__(self, limits: RateLimits) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._items: dict[str, list[RateLimitItem]] = {
            "draw": parse_many(limits.draw),
            "feedback": parse_many(limits.feedback),
        }

    def allow(self, kind: str, client: str) -> bool:
        """Count one request of `kind` from `client`; False (and not counted) when past any of its limits."""
        items = self._items[kind]
        if not all(self._limiter.test(item, kind, client) for item in items):
            return False
        return all(self._limiter.hit(item, kind, client) for item in items)
