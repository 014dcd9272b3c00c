"""What a describe request may ask for, and the one error class every refusal raises.

The studio answers a `BadDescribeRequest` with a 422 and the CLI exits 2 (it is a `DataError`): the caller
sent something unusable, and retrying the same request cannot help. Each limit is defined here once; the CLI
and the studio read them from here.
"""

from __future__ import annotations

from t2igan.errors import DataError

DEFAULT_TOP_K = 5  # captions shown when the caller does not say
MAX_TOP_K = 50  # more captions than anyone reads, and a bound on the response a web request can ask for
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP")  # Pillow's names: the formats a browser sends, nothing exotic


class BadDescribeRequest(DataError):
    """An image or a `top_k` that describe refuses; the message is one line naming the reason."""


def check_top_k(top_k: int) -> int:
    """`top_k` as asked, refused outside 1..MAX_TOP_K (a bool is not a count)."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise BadDescribeRequest(f"top_k must be a whole number from 1 to {MAX_TOP_K}, got {top_k!r}")
    return top_k
