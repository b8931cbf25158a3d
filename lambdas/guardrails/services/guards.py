"""The reactive guards (issue 4): terminations that went around the workflow, spot
interruption warnings, and termination protection lifted by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from guardrails.adapters import ssm
from guardrails.adapters.notifier import Notifier
from guardrails.adapters.runs import RunStore
from guardrails.constants import (
    RULE_POST_MORTEM,
    RULE_PROTECTION_REMOVED,
    RULE_SPOT_INTERRUPTION,
    SERVICE_NAME,
)
from guardrails.domain.guard_messages import (
    render_post_mortem,
    render_protection_removed,
    render_spot_interruption,
)
from guardrails.domain.messages import AlertMessage
from guardrails.domain.postmortem import post_mortem
from guardrails.events import CloudTrailCall
from guardrails.services.termination import s3_target
from guardrails.workflow.models import PendingCheckpoint

logger = Logger(service=SERVICE_NAME, child=True)
SIGNAL_TIMEOUT_SECONDS = 60
UPLOAD_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class Guards:
    store: RunStore
    notifier: Notifier
    bucket: str | None
    trusted_roles: frozenset[str]


def _publish_once(store: RunStore, notifier: Notifier, instance_id: str, rule: str, key: str,
                  message: AlertMessage, at: datetime) -> bool:
    """Claim, publish; on a failed publish give the claim back so a retry sends it."""
    if not store.claim_once(instance_id, rule, key, at):
        return False
    try:
        notifier.publish(message)
    except Exception:
        store.unclaim(instance_id, rule, key)
        raise
    return True


def report_bypass(store: RunStore, notifier: Notifier, instance_id: str, state: str,
                  at: datetime) -> bool:
    """shutting-down or terminated: if that lost a live run or a checkpoint only on disk,
    and the workflow was not the one terminating, send the post-mortem (once). The live run
    is then released, since its process is gone with the instance."""
    view = store.collection(instance_id)
    report = post_mortem(instance_id, view.lock, view.runs, view.checkpoints, view.audits,
                         view.record.ledger if view.record else None, at)
    if report is None:
        return False
    sent = _publish_once(store, notifier, instance_id, RULE_POST_MORTEM, "lost",
                         render_post_mortem(report, state, at), at)
    if view.lock is not None:
        store.release_stale(instance_id, view.lock, at)
    logger.warning("termination around the workflow lost work", instance_id=instance_id,
                   runs=[r.run_id for r in report.live_runs],
                   checkpoints=[c.path for c in report.lost_checkpoints], alerted=sent)
    return sent


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
            copies = [(c.path, s3_target(g.bucket, instance_id, PendingCheckpoint(
                run_id=c.run_id, epoch=c.epoch, path=c.path, size_bytes=c.size_bytes,
                sha256=c.sha256)), c.sha256) for c in pending]
            ssm.send(instance_id, ssm.upload_commands(copies),
                     "training guardrails: upload checkpoints (spot interruption)",
                     UPLOAD_TIMEOUT_SECONDS)
            asked.append(f"started copying {len(copies)} checkpoint(s) only on the "
                         "instance to S3")
    _publish_once(g.store, g.notifier, instance_id, RULE_SPOT_INTERRUPTION, event_id,
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
    return _publish_once(g.store, g.notifier, instance_id, RULE_PROTECTION_REMOVED, call.eventID,
                         render_protection_removed(instance_id, call.caller_arn, at), at)
