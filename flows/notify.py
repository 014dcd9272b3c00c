"""Tell someone when an unattended run fails: a log line always, and a webhook POST when one is configured.

The webhook URL comes from the flow's `notify_url` parameter, else T2IGAN_NOTIFY_WEBHOOK. The body is JSON with
the stage that failed, its one-line reason, the state message and the run's names, plus a `text` line, the
field Slack and Mattermost incoming webhooks display. A webhook that is down is logged, never raised: it must
not hide the failure it was reporting.
"""

from __future__ import annotations

import os
import re
from typing import Any

import httpx
from prefect.logging.loggers import flow_run_logger

from t2igan.env import NOTIFY_WEBHOOK_ENV

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


def webhook_url(flow_run: Any) -> str | None:
    parameters = getattr(flow_run, "parameters", None) or {}
    return parameters.get("notify_url") or os.environ.get(NOTIFY_WEBHOOK_ENV) or None


def notify_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect on_failure / on_crashed hook."""
    details = failure_details(state)
    where = f"stage {details['stage']}" if details["stage"] else "the flow"
    text = f"t2igan run {flow_run.name} {state.name.lower()} in {where}: {details['reason']}"
    logger = flow_run_logger(flow_run, flow)  # reaches the run's logs in the Prefect UI
    logger.error(text)
    url = webhook_url(flow_run)
    if not url:
        return
    payload = {
        "text": text,
        "flow": flow.name,
        "flow_run": flow_run.name,
        "flow_run_id": str(flow_run.id),
        "deployment_id": str(flow_run.deployment_id) if flow_run.deployment_id else None,
        "state": state.name,
        **details,
    }
    try:
        httpx.post(url, json=payload, timeout=10.0).raise_for_status()
    except httpx.HTTPError as exc:
        logger.warning("could not notify %s: %s", url, exc)
