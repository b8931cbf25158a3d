"""The demo's report and the local event source, without a stack: a failed step is named,
the rest are marked not run, and the demo exits 1; EC2 transitions carry EC2's own time."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from local import demo as demo_module
from local.demo import Demo, _print_table, _run_steps
from local.demo_steps import StepFailed
from local.ec2_events import changed_at, event_time, state_change

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_a_failed_step_is_named_and_the_later_steps_are_not_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given three steps, the second of which sees the wrong thing
    def fine(demo: Demo) -> tuple[str, datetime]:
        return "did it", T0 + timedelta(minutes=5)

    def wrong(demo: Demo) -> tuple[str, datetime]:
        raise StepFailed("terminate was not blocked: exit 0")

    monkeypatch.setattr(demo_module, "STEPS", [("first", fine), ("second", wrong),
                                               ("third", fine)])
    stack: Any = SimpleNamespace(clock=SimpleNamespace(now=lambda: T0))
    out = io.StringIO()
    demo = Demo(stack, 3600, out, tmp_path)
    # When the demo runs them
    failed = _run_steps(demo)
    _print_table(demo, out)
    # Then it reports the failure by what was seen, and does not run the third
    assert failed
    assert [(r.number, r.ok, r.outcome) for r in demo.rows] == [
        (1, True, "did it"), (2, False, "FAILED: terminate was not blocked: exit 0"),
        (3, False, "not run")]
    shown = out.getvalue()
    assert "0h05m" in shown and "1 of 3 steps passed." in shown


def test_an_unexpected_error_in_a_step_is_a_failure_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(demo: Demo) -> tuple[str, datetime]:
        return max([]), T0  # type: ignore[return-value]

    monkeypatch.setattr(demo_module, "STEPS", [("only", broken)])
    stack: Any = SimpleNamespace(clock=SimpleNamespace(now=lambda: T0))
    demo = Demo(stack, 3600, io.StringIO(), tmp_path)
    assert _run_steps(demo)
    assert demo.rows[0].outcome.startswith("FAILED: ValueError")


def test_ec2_transitions_carry_the_time_ec2_gives_them_not_the_poll_time() -> None:
    seen = T0 + timedelta(hours=3)  # a slow poll at a high --speed
    running = {"State": {"Name": "running"}, "LaunchTime": T0}
    stopped = {"State": {"Name": "stopped"},
               "StateTransitionReason": "User initiated (2026-11-02 10:15:00 UTC)"}
    unknown = {"State": {"Name": "stopped"}, "StateTransitionReason": ""}
    assert changed_at(running, seen) == T0
    assert changed_at(stopped, seen) == T0 + timedelta(minutes=75)
    assert changed_at(unknown, seen) == seen
    # never later than when it was seen
    assert changed_at({**running, "LaunchTime": seen + timedelta(hours=1)}, seen) == seen
    assert event_time(state_change("i-1", "running", T0)) == T0
