"""The reactive guards (issue 4): spot interruption warnings, and termination protection
lifted by hand. (Terminations around the workflow: services/postmortem.py.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from guardrails.adapters import ssm
from guardrails.adapters.notifier import Notifier
from guardrails.adapters.runs import RunStore
from guardrails.constants import (
    RULE_PROTECTION_REMOVED,
    RULE_SPOT_INTERRUPTION,
    SERVICE_NAME,
)
from guardrails.domain.guard_messages import render_protection_removed, render_spot_interruption
from guardrails.domain.runs import checkpoint_s3_uri
from guardrails.guard_events import CloudTrailCall
from guardrails.services.once import publish_once

logger = Logger(service=SERVICE_NAME, child=True)
SIGNAL_TIMEOUT_SECONDS = 60
UPLOAD_TIMEOUT_SECONDS = 600


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
    if view.lock is None and not pending:
        pass
    elif not ssm.managed(instance_id):
        asked.append("could not reach it over SSM (no agent online), so nothing could be "
                     "saved from here")
    else:
        if view.lock is not None:
            ssm.send(instance_id, [ssm.checkpoint_signal_command(view.lock.pid)],
                     "training guardrails: checkpoint now (spot interruption)",
                     SIGNAL_TIMEOUT_SECONDS)
            asked.append(f"asked run {view.lock.run_id} (pid {view.lock.pid}) to save and "
                         "upload a checkpoint now (SIGUSR1)")
        if pending and g.bucket:
            copies = [(c.path, checkpoint_s3_uri(g.bucket, instance_id, c.run_id, c.path),
                       c.sha256) for c in pending]
            ssm.send(instance_id, ssm.upload_commands(copies),
                     "training guardrails: upload checkpoints (spot interruption)",
                     UPLOAD_TIMEOUT_SECONDS)
            asked.append(f"started copying {len(copies)} checkpoint(s) only on the "
                         "instance to S3")
    publish_once(g.store, g.notifier, instance_id, RULE_SPOT_INTERRUPTION, event_id,
                  render_spot_interruption(instance_id, action, asked, at), at)
    return asked


def on_protection_change(g: Guards, call: CloudTrailCall, at: datetime) -> bool:
    """Alert when someone other than the guardrails turned termination protection off."""
    params = call.requestParameters or {}
    setting = params.get("disableApiTermination")
    turned_off = isinstance(setting, dict) and setting.get("value") is False
    instance_id = str(params.get("instanceId") or "")
    if not turned_off or call.errorCode or not instance_id.startswith("i-"):
        return False
    if call.issuer_arn in g.trusted_roles or call.caller_arn in g.trusted_roles:
        return False
    # The stored flag follows EC2 again, so the next registry change re-protects if needed.
    g.store.set_protected(instance_id, False)
    return publish_once(g.store, g.notifier, instance_id, RULE_PROTECTION_REMOVED, call.eventID,
                         render_protection_removed(instance_id, call.caller_arn, at), at)
