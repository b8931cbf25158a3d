"""The pre-termination decision: what blocks, what it says, and that unknown blocks."""

from __future__ import annotations

from datetime import UTC, datetime

from guardrails.domain.runs import Checkpoint, Lock
from guardrails.domain.termination import (
    BLOCKED,
    SAFE,
    UNKNOWN,
    decide,
    may_proceed,
    unknown,
)

IID = "i-0123456789abcdef0"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LOCK = Lock("20261102T090000000000-abcdef", 4242, T0)


def ckpt(epoch: int, s3: bool) -> Checkpoint:
    return Checkpoint(IID, LOCK.run_id, epoch, f"/data/ckpt/e{epoch}.pt", 10, "a" * 64, T0,
                      s3_uri=f"s3://b/{IID}/{LOCK.run_id}/e{epoch}.pt" if s3 else None)


def test_no_runs_and_no_checkpoints_is_safe() -> None:
    decision = decide(IID, None, [], spot=False)
    assert decision.outcome == SAFE
    assert may_proceed(decision, force=False, reason=None)


def test_checkpoints_all_in_s3_are_safe() -> None:
    assert decide(IID, None, [ckpt(1, True), ckpt(2, True)], spot=False).outcome == SAFE


def test_a_live_run_blocks_and_is_named() -> None:
    decision = decide(IID, LOCK, [], spot=False)
    assert decision.outcome == BLOCKED
    assert decision.reasons == (f"run {LOCK.run_id} (pid 4242) is live",)
    assert any("stop-instances" in hint and "EBS" in hint for hint in decision.hints)
    assert not may_proceed(decision, force=False, reason=None)


def test_checkpoints_not_in_s3_block_naming_each_path_and_suggest_upload() -> None:
    decision = decide(IID, None, [ckpt(1, True), ckpt(2, False), ckpt(3, False)], spot=False)
    assert decision.outcome == BLOCKED
    assert [c.epoch for c in decision.not_in_s3] == [2, 3]
    assert all(any(f"/data/ckpt/e{n}.pt" in r for r in decision.reasons) for n in (2, 3))
    assert any("upload_checkpoints=true" in hint and "2 checkpoint" in hint
               for hint in decision.hints)


def test_a_live_run_whose_process_ssm_found_gone_does_not_block() -> None:
    decision = decide(IID, LOCK, [], spot=False, process="dead")
    assert decision.outcome == SAFE
    assert "gone" in decision.reasons[0]


def test_an_unclear_process_answer_still_blocks() -> None:
    for verdict in ("alive", "unknown", "unmanaged", None):
        assert decide(IID, LOCK, [], spot=False, process=verdict).outcome == BLOCKED


def test_force_needs_a_reason() -> None:
    blocked = decide(IID, LOCK, [ckpt(1, False)], spot=False)
    assert not may_proceed(blocked, force=True, reason=None)
    assert not may_proceed(blocked, force=True, reason="   ")
    assert may_proceed(blocked, force=True, reason="run abandoned, weights not needed")


def test_an_error_while_checking_is_unknown_and_blocks() -> None:
    decision = unknown("DynamoDB timed out")
    assert decision.outcome == UNKNOWN
    assert "DynamoDB timed out" in decision.reasons[0]
    assert not may_proceed(decision, force=False, reason=None)
