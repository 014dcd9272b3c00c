"""Say in the run's own log why it failed: the stage and its one-line reason.

Telling someone (a webhook) is the server's job, through an Automation (flows/alerts.py): it also sees the
runs that crashed before this hook could run.
"""

from __future__ import annotations

import re
from typing import Any

from prefect.logging.loggers import flow_run_logger

_STAGE = re.compile(r"stage '([^']+)' failed \(exit code [^)]*\): (.*)")


def failure_details(state: Any) -> dict[str, str | None]:
    """The failed stage and its reason, from the exception when the state holds it, else from the message."""
    message = state.message or state.name or "failed"
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:  # the result may be unreadable (crashed process): the message is enough
        exc = None
    stage = getattr(exc, "stage", None)
    why = getattr(exc, "reason", None)
    if stage is None:
        match = _STAGE.search(message)
        stage, why = (match.group(1), match.group(2)) if match else (None, None)
    return {"stage": stage, "reason": why or message, "message": message}


def notify_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect on_failure / on_crashed hook: one line in the run's log naming the stage and its reason."""
    details = failure_details(state)
    where = f"stage {details['stage']}" if details["stage"] else "the flow"
    text = f"t2igan run {flow_run.name} {state.name.lower()} in {where}: {details['reason']}"
    flow_run_logger(flow_run, flow).error(text)  # reaches the run's logs in the Prefect UI
