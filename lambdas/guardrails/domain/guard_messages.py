"""Alerts of the termination guardrails: the workflow's notice, the post-mortem of a
termination that went around it, a spot interruption, and protection lifted by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from guardrails.constants import (
    RULE_POST_MORTEM,
    RULE_PROTECTION_REMOVED,
    RULE_SPOT_INTERRUPTION,
    RULE_TERMINATION,
    SEVERITY_HIGH,
    SEVERITY_INFO,
)
from guardrails.domain.audit import Audit
from guardrails.domain.messages import SUBJECT_LIMIT, AlertMessage, usd
from guardrails.domain.postmortem import PostMortem


def _message(instance_id: str, rule: str, level: str, headline: str, text: str,
             at: datetime, **figures: Any) -> AlertMessage:
    body = {"instance_id": instance_id, "rule": rule, "severity": level,
            "time": at.isoformat(), "message": text, **figures}
    subject = f"[guardrails {level}] {headline}"[:SUBJECT_LIMIT]
    return AlertMessage(subject, body, {"rule": rule, "severity": level,
                                        "instance_id": instance_id})


def render_termination(audit: Audit, at: datetime) -> AlertMessage:
    iid = audit.instance_id
    if audit.overridden:
        text = (f"{audit.caller} forced the termination of {iid} (reason: {audit.reason}). "
                "Overridden: " + "; ".join(audit.overridden) + ". Audit " + audit.audit_id)
        return _message(iid, RULE_TERMINATION, SEVERITY_HIGH, f"{iid} terminated by force",
                        text, at, caller=audit.caller, forced=True, reason=audit.reason,
                        overridden=list(audit.overridden), audit_id=audit.audit_id)
    text = (f"{audit.caller} terminated {iid} through the guardrails: no live run, every "
            f"checkpoint in S3. Audit {audit.audit_id}")
    return _message(iid, RULE_TERMINATION, SEVERITY_INFO, f"{iid} terminated safely", text,
                    at, caller=audit.caller, forced=False, audit_id=audit.audit_id)


def render_post_mortem(report: PostMortem, state: str, at: datetime) -> AlertMessage:
    iid = report.instance_id
    lost = []
    for run in report.live_runs:
        lost.append(f"run {run.run_id} was live at epoch {run.epoch} of {run.total_epochs}")
    for ckpt in report.lost_checkpoints:
        lost.append(f"checkpoint {ckpt.path} (run {ckpt.run_id}, epoch {ckpt.epoch}) was "
                    "only on the instance")
    since = (f"the last checkpoint in S3 (epoch {report.last_safe_epoch}, "
             f"{report.last_safe_at.isoformat()})" if report.last_safe_at
             else "the run started, with no checkpoint in S3")
    text = (f"{iid} went {state} without the guardrails' terminate workflow (a spot reclaim, "
            "an OS shutdown, a scale-in, or protection removed by hand). Lost: "
            + "; ".join(lost) + f". {usd(report.usd_since_safe)} was spent since {since}. "
            "Resume from the newest checkpoint in S3; terminate through `guardctl terminate` "
            "next time, and keep spot runs checkpointing to S3.")
    return _message(iid, RULE_POST_MORTEM, SEVERITY_HIGH, f"{iid} {state} with unsaved work",
                    text, at, state=state,
                    lost_runs=[{"run_id": r.run_id, "epoch": r.epoch} for r in report.live_runs],
                    lost_checkpoints=[{"path": c.path, "run_id": c.run_id, "epoch": c.epoch}
                                      for c in report.lost_checkpoints],
                    last_epoch=report.last_epoch, last_safe_epoch=report.last_safe_epoch,
                    usd_since_last_safe_checkpoint=(
                        None if report.usd_since_safe is None
                        else round(float(report.usd_since_safe), 2)))


def render_spot_interruption(instance_id: str, action: str, asked: list[str],
                             at: datetime) -> AlertMessage:
    done = "; ".join(asked) if asked else "there was nothing to save (no live run or local " \
                                          "checkpoint)"
    text = (f"AWS will {action} spot instance {instance_id} in about two minutes. "
            f"The guardrails: {done}. Check that a fresh checkpoint reaches S3.")
    return _message(instance_id, RULE_SPOT_INTERRUPTION, SEVERITY_HIGH,
                    f"{instance_id}: spot interruption in 2 min", text, at, action=action,
                    asked=asked)


def render_protection_removed(instance_id: str, who: str, at: datetime) -> AlertMessage:
    text = (f"{who} turned off termination protection on {instance_id} outside the guardrails' "
            "workflow. A run or a checkpoint may now be lost to a plain terminate. If that "
            "was not intended, turn it back on: aws ec2 modify-instance-attribute "
            f"--instance-id {instance_id} --disable-api-termination; to terminate safely, use "
            f"guardctl terminate {instance_id}.")
    return _message(instance_id, RULE_PROTECTION_REMOVED, SEVERITY_HIGH,
                    f"{instance_id}: termination protection removed by hand", text, at,
                    changed_by=who)
