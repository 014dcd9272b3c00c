"""How long each task of the training flow, and the flow itself, may run before it is stopped and failed.

A hung `dvc push` (a remote that accepts the connection and never answers) would otherwise hold the
deployment's single run slot for ever, and every scheduled run after it would wait behind it. Pull and push
get an hour by default: they move data, and an hour without finishing means something is wrong. Stages have
no limit of their own unless given one (`--timeout train=86400`): how long a training takes is the user's to
know. The flow as a whole is bounded too, by T2IGAN_FLOW_TIMEOUT_S (3 days by default). A task past its
limit is stopped with everything it started, is not retried (its time is spent: the next run tries again),
and fails the run naming the task and the limit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from t2igan.env import FLOW_TIMEOUT_ENV
from t2igan.errors import ConfigError
from t2igan.stages import STAGES

TRANSFERS = ("pull", "push")
DEFAULT_TIMEOUTS: dict[str, float] = {"pull": 3600.0, "push": 3600.0}
DEFAULT_FLOW_TIMEOUT_S = 3 * 24 * 3600.0


def task_timeouts(given: Mapping[str, float] | None) -> dict[str, float]:
    """Seconds per task (a stage's name, `pull`, `push`) over the defaults; an unknown name or a limit that
    is not a positive number is refused."""
    known = (*STAGES, *TRANSFERS)
    limits = dict(DEFAULT_TIMEOUTS)
    for name, seconds in (given or {}).items():
        if name not in known:
            raise ConfigError(f"timeout {name}: not a task of the flow (one of {', '.join(known)})")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            raise ConfigError(f"timeout {name}: {seconds!r} is not a positive number of seconds")
        limits[name] = float(seconds)
    return limits


def flow_timeout_seconds() -> float:
    """The flow's own limit, read where the flow is defined (a worker reads its job's environment)."""
    value = os.environ.get(FLOW_TIMEOUT_ENV)
    try:
        seconds = float(value) if value else DEFAULT_FLOW_TIMEOUT_S
    except ValueError:
        raise ConfigError(f"{FLOW_TIMEOUT_ENV}={value!r}: not a number of seconds") from None
    if seconds <= 0:
        raise ConfigError(f"{FLOW_TIMEOUT_ENV}={value!r}: not a positive number of seconds")
    return seconds
