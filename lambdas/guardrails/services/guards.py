"""The reactive guards (issue 4): spot interruption warnings, and termination protection
lifted by hand. (Terminations around the workflow: services/postmortem.py.)"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from guardrails.adapters.notifier import Notifier
from guardrails.adapters.runs import RunStore
from guardrails.constants import (
    RULE_PROTECTION_REMOVED,
    RULE_SPOT_INTERRUPTION,
    SERVICE_NAME,
)
from guardrails.domain.guard_messages import render_protection_removed, render_spot_interruption
from guardrails.events import INSTANCE_ID_PATTERN
from guardrails.guard_events import CloudTrailCall
from guardrails.services.checkpoint_now import checkpoint_now
from guardrails.services.once import publish_once

logger = Logger(service=SERVICE_NAME, child=True)


@dataclass(frozen=True)
class Guards:
    store: RunStore
    notifier: Notifier
    bucket: str | None
    trusted_roles: frozenset[str]


def on_spot_warning(g: Guards, instance_id: str, action: str, event_id: str,
                    at: datetime) -> list[str]:
    """Ask the live run to checkpoint (SIGUSR1 to the agent), copy local checkpoints to S3,
    and alert. What was asked is returned (and said in the alert)."""
    view = g.store.collection(instance_id)
    pending = [c for c in view.checkpoints if not c.uploaded]
    asked: list[str] = []
    if view.lock is not None or pending:
        # Two minutes is all there is: whatever SSM says, the alert still goes out.
        try:
            asked += checkpoint_now(instance_id, view.lock, pending, g.bucket,
                                    "spot interruption")
        except (ClientError, BotoCoreError) as error:
            logger.exception("spot interruption: SSM failed", instance_id=instance_id)
            asked.append(f"could not ask it over SSM ({type(error).__name__}: {error})")
    publish_once(g.store, g.notifier, instance_id, RULE_SPOT_INTERRUPTION, event_id,
                  render_spot_interruption(instance_id, action, asked, at), at)
    return asked


def turned_protection_off(params: dict[str, object]) -> bool:
    """CloudTrail records the call in either form the API takes:
    {"disableApiTermination": {"value": false}} or
    {"attribute": "disableApiTermination", "value": "false"}."""
    setting = params.get("disableApiTermination")
    if isinstance(setting, dict):
        return setting.get("value") is False or str(setting.get("value")).lower() == "false"
    return (params.get("attribute") == "disableApiTermination"
            and str(params.get("value")).lower() == "false")


def on_protection_change(g: Guards, call: CloudTrailCall, at: datetime) -> bool:
    """Alert when someone other than the guardrails turned termination protection off."""
    params = call.requestParameters or {}
    instance_id = str(params.get("instanceId") or "")
    if (not turned_protection_off(params) or call.errorCode
            or not re.match(INSTANCE_ID_PATTERN, instance_id)):
        return False
    if call.issuer_arn in g.trusted_roles or call.caller_arn in g.trusted_roles:
        return False
    # The stored flag follows EC2 again, so the next registry change re-protects if needed.
    g.store.set_protected(instance_id, False)
    return publish_once(g.store, g.notifier, instance_id, RULE_PROTECTION_REMOVED, call.eventID,
                         render_protection_removed(instance_id, call.caller_arn, at), at)
