"""Is it safe to terminate an instance? The pure decision of the pre-termination workflow
(issue 4). A live run, or a checkpoint that exists only on the instance, blocks; anything
that could not be checked makes the answer `unknown`, which blocks too (fail closed)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from guardrails.domain.runs import Checkpoint, Lock

SAFE: Final = "safe"
BLOCKED: Final = "blocked"
UNKNOWN: Final = "unknown"
# What the SSM live check said about the live run's process (see adapters/ssm.py).
PROCESS_GONE: Final = "dead"


@dataclass(frozen=True)
class TerminationDecision:
    outcome: str
    reasons: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    not_in_s3: tuple[Checkpoint, ...] = ()
    spot: bool = False
    live_run: str | None = None  # the run that blocks, if one does

    @property
    def uploadable(self) -> bool:
        """Blocked only by checkpoints that copying them to S3 would make safe."""
        return self.outcome == BLOCKED and self.live_run is None and bool(self.not_in_s3)

    @property
    def safe(self) -> bool:
        return self.outcome == SAFE


def decide(instance_id: str, lock: Lock | None, checkpoints: Iterable[Checkpoint],
           spot: bool, process: str | None = None) -> TerminationDecision:
    """`process` is the SSM verdict on the live run's pid, when one was asked for."""
    reasons: list[str] = []
    notes: list[str] = []
    live_run = None
    if lock is not None and process == PROCESS_GONE:
        notes.append(f"run {lock.run_id} is registered as live, but its process "
                     f"(pid {lock.pid}) is gone; it does not block")
    elif lock is not None:
        live_run = lock.run_id
        reasons.append(f"run {lock.run_id} (pid {lock.pid}) is live")
    pending = tuple(c for c in checkpoints if not c.uploaded)
    reasons += [f"checkpoint {c.path} (run {c.run_id}, epoch {c.epoch}) is not in S3"
                for c in pending]
    if not reasons:
        return TerminationDecision(SAFE, tuple(notes), spot=spot)
    hints = [f"stop it instead: aws ec2 stop-instances --instance-ids {instance_id} "
             "(stopping keeps the EBS volume and everything on it)"]
    if live_run is not None:
        hints.append(f"or wait for run {live_run} to finish, then terminate")
    elif pending:
        hints.append(f"or pass upload_checkpoints=true to copy the {len(pending)} "
                     "checkpoint(s) to S3 first, then terminate")
    hints.append("or pass force=true with a reason, if losing them is intended (audited)")
    return TerminationDecision(BLOCKED, tuple(reasons + notes), tuple(hints), pending, spot,
                               live_run)


def untracked(instance_id: str) -> TerminationDecision:
    """An instance the guardrails hold no record of: what runs on it cannot be known."""
    return TerminationDecision(
        UNKNOWN, (f"{instance_id} is not tracked by the guardrails (it does not exist, or it "
                  "has not been seen running since they were deployed), so whether it holds "
                  "a run or a checkpoint cannot be known",),
        ("if it exists and is running, the next sweep (every 15 minutes) tracks it: retry "
         "then", "or pass force=true with a reason, if it is meant to go (audited)"))


def unknown(error: str) -> TerminationDecision:
    """The answer when the check itself failed: never a guess of `safe`."""
    return TerminationDecision(
        UNKNOWN, (f"could not determine whether it is safe: {error}",),
        ("retry; if the guardrails stay unable to check, pass force=true with a reason",))


def may_proceed(decision: TerminationDecision, force: bool, reason: str | None) -> bool:
    """Safe, or forced with a reason (which the workflow audits)."""
    return decision.safe or (force and bool(reason and reason.strip()))
