"""The pre-termination workflow's steps (issue 4). Each task handler calls one of these.

`check` fails closed: any error answers `unknown`, never `safe`. `terminate` checks again
right before acting (a run may have started since), lifts protection, terminates, and puts
protection back if termination fails."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from guardrails.adapters import ec2, s3, ssm
from guardrails.adapters.audit import AuditLog, RunStarted
from guardrails.adapters.notifier import Notifier
from guardrails.adapters.runs import RunStore
from guardrails.constants import SERVICE_NAME
from guardrails.domain import audit as outcomes
from guardrails.domain.audit import Audit
from guardrails.domain.guard_messages import render_termination
from guardrails.domain.instance import SPOT
from guardrails.domain.runs import checkpoint_s3_uri
from guardrails.domain.termination import (
    TerminationDecision,
    decide,
    may_proceed,
    unknown,
    untracked,
)
from guardrails.services.registry import sync_protection
from guardrails.workflow.models import (
    DecisionOut,
    OutcomeOut,
    PendingCheckpoint,
    UploadOut,
    VerifiedOut,
    WorkflowState,
    failure_text,
)

logger = Logger(service=SERVICE_NAME, child=True)
GONE = frozenset({"shutting-down", "terminated"})


class NoLongerSafe(Exception):
    """Something changed between the check and the termination: nothing was terminated."""


@dataclass(frozen=True)
class Workflow:
    store: RunStore
    audit: AuditLog
    notifier: Notifier
    bucket: str | None
    upload_timeout: timedelta
    poll_seconds: int


# ---- check -----------------------------------------------------------------------------------
def check(store: RunStore, instance_id: str) -> TerminationDecision:
    try:
        view = store.collection(instance_id)
        if view.record is None and view.lock is None and not view.runs:
            return untracked(instance_id)
        process = ssm.pid_alive(instance_id, view.lock.pid) if view.lock else None
        spot = view.record is not None and view.record.facts.lifecycle == SPOT
        return decide(instance_id, view.lock, view.checkpoints, spot, process)
    except Exception as error:
        logger.exception("termination check failed; answering unknown", instance_id=instance_id)
        return unknown(f"{type(error).__name__}: {error}")


def assess(wf: Workflow, state: WorkflowState) -> DecisionOut:
    request = state.request
    decision = check(wf.store, request.instance_id)
    return DecisionOut(
        outcome=decision.outcome, reasons=list(decision.reasons), hints=list(decision.hints),
        not_in_s3=[PendingCheckpoint(run_id=c.run_id, epoch=c.epoch, path=c.path,
                                     size_bytes=c.size_bytes, sha256=c.sha256)
                   for c in decision.not_in_s3],
        spot=decision.spot, proceed=may_proceed(decision, request.force, request.reason),
        # Forced, the live run does not stop the copy: the caller asked to keep them.
        uploadable=decision.uploadable or (request.force and bool(decision.not_in_s3)))


# ---- upload ----------------------------------------------------------------------------------
def advance_upload(wf: Workflow, state: WorkflowState, now: datetime) -> UploadOut:
    """Send the upload command the first time; after that, report how it is going."""
    if state.upload is None:
        return _send_upload(wf, state, now)
    upload = state.upload
    if upload.state != ssm.RUNNING or upload.command_id is None:
        return upload
    status, detail = ssm.command_state(state.request.instance_id, upload.command_id)
    if status == ssm.RUNNING and now - datetime.fromisoformat(upload.sent_at) > wf.upload_timeout:
        return upload.model_copy(update={"state": ssm.FAILED, "problem": (
            f"the upload did not finish within {int(wf.upload_timeout.total_seconds())} s "
            f"(SSM command {upload.command_id}: {detail})")})
    if status == ssm.FAILED:
        return upload.model_copy(update={"state": ssm.FAILED, "problem": (
            f"the upload command {upload.command_id} failed on the instance: {detail}")})
    return upload.model_copy(update={"state": status})


def _send_upload(wf: Workflow, state: WorkflowState, now: datetime) -> UploadOut:
    iid, decision = state.request.instance_id, state.decision
    base = UploadOut(state=ssm.FAILED, sent_at=now.isoformat(), poll_seconds=wf.poll_seconds)
    if not wf.bucket:
        return base.model_copy(update={"problem": "no checkpoint bucket is configured "
                                                  "(CHECKPOINT_BUCKET); nothing to upload to"})
    if decision is None or not decision.not_in_s3:
        return base.model_copy(update={"problem": "no checkpoint needs uploading"})
    if not ssm.managed(iid):
        return base.model_copy(update={"problem": (
            f"{iid} has no SSM agent online, so its checkpoints cannot be uploaded from here; "
            "copy them to S3 yourself, or stop the instance to keep its disk")})
    targets = {c.path: checkpoint_s3_uri(wf.bucket, iid, c.run_id, c.path)
               for c in decision.not_in_s3}
    commands = ssm.upload_commands([(c.path, targets[c.path], c.sha256)
                                    for c in decision.not_in_s3])
    timeout = int(wf.upload_timeout.total_seconds())
    command_id = ssm.send(iid, commands, "training guardrails: upload checkpoints", timeout)
    logger.info("checkpoint upload sent", instance_id=iid, command_id=command_id,
                checkpoints=len(targets))
    return base.model_copy(update={"state": ssm.RUNNING, "command_id": command_id,
                                   "targets": targets})


def verify(wf: Workflow, state: WorkflowState) -> VerifiedOut:
    """head_object each copy: the size and sha256 must be the recorded ones. Only a verified
    copy gets its s3_uri; the recheck then decides."""
    iid = state.request.instance_id
    targets = state.upload.targets if state.upload else {}
    found = VerifiedOut()
    for ckpt in state.decision.not_in_s3 if state.decision else []:
        uri = targets.get(ckpt.path)
        if uri is None:
            continue
        try:
            stored = s3.head(uri)
        except Exception as error:
            found.problems.append(f"{uri} could not be read back ({type(error).__name__}: "
                                  f"{error})")
            continue
        if stored.size_bytes != ckpt.size_bytes or stored.sha256 != ckpt.sha256:
            found.problems.append(
                f"{uri} does not match {ckpt.path}: {stored.size_bytes} bytes, sha256 "
                f"{stored.sha256 or 'absent'}; expected {ckpt.size_bytes} bytes, sha256 "
                f"{ckpt.sha256}")
        elif wf.store.mark_uploaded(iid, ckpt.run_id, ckpt.epoch, ckpt.sha256, uri):
            found.recorded.append(uri)
        else:
            found.problems.append(f"the record of {ckpt.path} changed during the upload")
    return found


# ---- outcomes --------------------------------------------------------------------------------
def _audit(state: WorkflowState, outcome: str, now: datetime, detail: str = "",
           overridden: tuple[str, ...] = ()) -> Audit:
    request, decision = state.request, state.decision
    return Audit(instance_id=request.instance_id, at=now, execution=state.execution,
                 caller=request.caller, force=request.force, reason=request.reason,
                 decision=decision.outcome if decision else "unchecked", outcome=outcome,
                 reasons=tuple(decision.reasons) if decision else (), overridden=overridden,
                 detail=detail)


def terminate(wf: Workflow, state: WorkflowState, now: datetime) -> OutcomeOut:
    request, decision = state.request, state.decision
    iid = request.instance_id
    if decision is None or not decision.proceed:
        raise NoLongerSafe("terminate was reached without a decision to proceed")
    if not request.force:
        again = check(wf.store, iid)
        if not again.safe:
            raise NoLongerSafe("the instance became unsafe to terminate since the check: "
                               + "; ".join(again.reasons))
    overridden = tuple(decision.reasons) if decision.outcome != "safe" else ()
    record = _audit(state, outcomes.TERMINATING, now, overridden=overridden)
    try:
        audit_id = wf.audit.write(record, only_if_no_live_run=not request.force)
    except RunStarted as started:
        raise NoLongerSafe(f"{started}; nothing was terminated") from started
    try:
        if not decision.spot:  # EC2 has no termination protection for spot instances
            ec2.set_termination_protection(iid, False)
            wf.store.set_protected(iid, False)
        ec2.terminate(iid)
    except Exception as error:
        if not _gone(iid):
            _restore_protection(wf, iid)
            detail = f"{type(error).__name__}: {error}"
            _best_effort(lambda: wf.audit.set_outcome(record, outcomes.FAILED, detail))
            raise
        # A retried step whose first attempt already terminated: that is the outcome.
        logger.info("the instance was already going away", instance_id=iid)
    _best_effort(lambda: wf.audit.set_outcome(record, outcomes.TERMINATED, ""))
    message = render_termination(record, now)
    _best_effort(lambda: wf.notifier.publish(message))
    forced = bool(overridden)
    return OutcomeOut(status="terminated", audit_id=audit_id, forced=forced,
                      reasons=list(overridden),
                      message=(f"{iid} is terminating" + (
                          f", forced by {request.caller} over: " + "; ".join(overridden)
                          if forced else ": nothing was at risk")))


def _gone(instance_id: str) -> bool:
    """True if EC2 says the instance is shutting down or terminated (False if unsure)."""
    try:
        facts = ec2.Ec2().describe(instance_id)
    except Exception:
        logger.exception("could not read the instance's state", instance_id=instance_id)
        return False
    return facts is None or facts.state in GONE


def record_blocked(wf: Workflow, state: WorkflowState, now: datetime) -> OutcomeOut:
    decision = state.decision
    reasons = list(decision.reasons) if decision else []
    if state.upload and state.upload.problem:
        reasons.append(state.upload.problem)
    if state.verified:
        reasons += state.verified.problems
    hints = list(decision.hints) if decision else []
    audit_id = wf.audit.write(_audit(state, outcomes.BLOCKED, now, detail="; ".join(reasons)))
    iid = state.request.instance_id
    return OutcomeOut(status="blocked", audit_id=audit_id, reasons=reasons, hints=hints,
                      message=f"{iid} was not terminated: " + "; ".join(reasons))


def record_failure(wf: Workflow, state: WorkflowState, now: datetime) -> OutcomeOut:
    what = failure_text(state.error.Error if state.error else "Unknown",
                        state.error.Cause if state.error else "")
    iid = state.request.instance_id
    fate = ("it is shutting down or terminated nonetheless" if _gone(iid)
            else f"{iid} was not terminated")
    message = (f"the termination workflow failed and {fate}: {what}. Retry; if it keeps "
               "failing, read the workflow's execution history")
    audit_id = wf.audit.write(_audit(state, outcomes.FAILED, now, detail=what))
    return OutcomeOut(status="failed", audit_id=audit_id, message=message)


def _restore_protection(wf: Workflow, instance_id: str) -> None:
    """Termination failed after protection was lifted: put back what the runs require."""
    _best_effort(lambda: sync_protection(wf.store, instance_id))


def _best_effort(action: Callable[[], object]) -> None:
    try:
        action()
    except Exception:
        logger.exception("a follow-up step failed; the outcome stands")
