"""Tell someone when a scheduled run fails: a Prefect Automation that sends a notification block.

Why an Automation and not the flow's own hook posting: the server sees every way a run can end (failed,
crashed, timed out, a worker that died before the flow's code started) and the hook only the ones where the
flow's process was alive to run it; and the webhook URL (often a bearer secret: Slack's and Mattermost's
are) belongs in a secret value of a block, obfuscated by the API and the UI, not in a flow parameter kept in
plain text with every run. So `t2igan flow serve|deploy --notify-url URL` saves a Custom Webhook
notification block whose URL is a secret, and an Automation on the server: when a run of that deployment
fails, crashes or times out, send it. The POSTed JSON holds `text` (the field Slack and Mattermost show),
`subject` (the run and its state) and `message` (the state message: the failed stage and its reason).
"""

from __future__ import annotations

import contextlib
from typing import Any
from uuid import UUID

FAILED_EVENTS = {"prefect.flow-run.Failed", "prefect.flow-run.Crashed", "prefect.flow-run.TimedOut"}
SUBJECT = "t2igan run {{ flow_run.name }} of {{ deployment.name }}: {{ flow_run.state.name }}"
BODY = "{{ flow_run.state.message }}"
PAYLOAD = {"text": "{{subject}}: {{body}}", "subject": "{{subject}}", "message": "{{body}}"}
URL_SECRET = "webhook_url"  # the secret value that fills the block's URL


def names(deployment_name: str) -> tuple[str, str]:
    """The notification block's and the automation's names for a deployment."""
    return f"t2igan-failures-{deployment_name}", f"t2igan: a run of {deployment_name} failed"


def install_failure_alert(deployment_id: UUID | str, deployment_name: str, url: str) -> UUID:
    """Save the webhook block (the URL a secret) and the Automation for the deployment; replace earlier ones.

    Returns the automation's id.
    """
    from prefect.automations import Automation, EventTrigger, Posture, SendNotification
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.exceptions import ObjectNotFound

    block_name, automation_name = names(deployment_name)
    webhook = CustomWebhookNotificationBlock(
        name=block_name,
        url="{{" + URL_SECRET + "}}",
        json_data=dict(PAYLOAD),
        secrets={URL_SECRET: url},  # pydantic makes it a SecretDict
    )
    block_id = webhook.save(block_name, overwrite=True)
    with contextlib.suppress(ObjectNotFound, ValueError):  # none yet
        earlier: Any = Automation.read(name=automation_name)
        earlier.delete()
    automation: Any = Automation(
        name=automation_name,
        description="Sends the failed, crashed or timed-out runs of a t2igan deployment to its webhook",
        trigger=EventTrigger(
            expect=FAILED_EVENTS,
            match_related={"prefect.resource.id": f"prefect.deployment.{deployment_id}"},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[SendNotification(block_document_id=block_id, subject=SUBJECT, body=BODY)],
    ).create()
    return UUID(str(automation.id))
