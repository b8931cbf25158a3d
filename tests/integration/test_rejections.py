"""Bad input never crashes a handler and never writes anything."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from guardrails.handlers import sweep
from tests.events import sample, state_change
from tests.integration.conftest import Guardrails, LambdaContext

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def without_detail() -> dict[str, Any]:
    event = sample("ec2-state-running.json")
    del event["detail"]
    return event


def with_detail(**detail: Any) -> dict[str, Any]:
    event = sample("ec2-state-running.json")
    event["detail"] = detail
    return event


MALFORMED = {
    "missing detail": (without_detail(), "detail"),
    "unknown state": (with_detail(**{"instance-id": "i-0123456789abcdef0",
                                     "state": "exploded"}), "state"),
    "instance id of the wrong type": (with_detail(**{"instance-id": 42, "state": "running"}),
                                      "instance-id"),
    "not an instance id": (with_detail(**{"instance-id": "vol-0123", "state": "running"}),
                           "instance-id"),
    "time that is not a time": ({**sample("ec2-state-running.json"), "time": "yesterday"},
                                "time"),
    "another kind of event": (sample("spot-interruption-warning.json"), "detail-type"),
    "a list": ([1, 2, 3], "JSON object"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_state_change_is_rejected_with_a_reason_and_writes_nothing(
    guardrails: Guardrails, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    g = guardrails
    event, field = MALFORMED[case]
    result = g.deliver(event, T0)
    assert result["status"] == "rejected"
    assert field in result["reason"]
    assert g.items() == []
    assert g.alerts() == []
    assert g.schedules() == {}


def test_the_docs_sample_with_a_stray_space_is_read_but_an_unknown_instance_writes_nothing(
    guardrails: Guardrails,
) -> None:
    g = guardrails
    # The documentation sample says " i-1234567890abcdef0"; EC2 has no such instance here.
    result = g.deliver(sample("ec2-state-stopped.json"), T0)
    assert result["status"] == "rejected"
    assert "i-1234567890abcdef0 is unknown to EC2" in result["reason"]
    assert g.items() == []


def test_a_state_change_for_a_real_instance_from_a_sample_is_recorded(
    guardrails: Guardrails,
) -> None:
    g = guardrails
    iid = g.launch("g5.xlarge")
    event = sample("ec2-state-pending.json")
    event["detail"]["instance-id"] = iid
    assert g.deliver(event, T0)["status"] == "recorded"
    assert g.record(iid)["state"] == "pending"


@pytest.mark.parametrize("event, field", [
    ({"instance_id": "nope"}, "instance_id"),
    ({"instance_id": "i-0123456789abcdef0", "step": "two"}, "step"),
    ({"detail-type": "Something Else", "source": "aws.ec2"}, "instance_id"),
    ("sweep please", "JSON object"),
])
def test_a_malformed_sweep_request_is_rejected_and_writes_nothing(
    guardrails: Guardrails, event: Any, field: str
) -> None:
    g = guardrails
    g.at(T0)
    result = sweep.handler(event, LambdaContext())
    assert result["status"] == "rejected"
    assert field in result["reason"]
    assert g.items() == []


def test_the_scheduler_default_payload_runs_a_full_sweep(guardrails: Guardrails) -> None:
    g = guardrails
    g.launch("g5.xlarge")
    g.at(T0)
    result = sweep.handler(sample("eventbridge-scheduler-invocation.json"), LambdaContext())
    assert result["status"] == "swept"
    assert result["running"] == 1


def test_state_change_pattern_sample_round_trip() -> None:
    # The helper builds events from the documented sample, so the envelope stays real.
    event = state_change("i-0123456789abcdef0", "running", T0)
    assert event["detail-type"] == "EC2 Instance State-change Notification"
    assert event["source"] == "aws.ec2"
