"""Instance facts from a DescribeInstances instance (pure mapping, no AWS call)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from guardrails.adapters.ec2 import _reason_time, facts_from_instance
from guardrails.domain.instance import ON_DEMAND, SPOT

LAUNCHED = datetime(2024, 5, 23, 9, 0, tzinfo=UTC)


def described(**extra: Any) -> dict[str, Any]:
    """An instance as DescribeInstances returns it (trimmed to what matters)."""
    return {
        "InstanceId": "i-0123456789abcdef0",
        "InstanceType": "g5.xlarge",
        "Placement": {"AvailabilityZone": "eu-west-1b"},
        "State": {"Code": 80, "Name": "stopped"},
        "LaunchTime": LAUNCHED,
        "StateTransitionReason": "User initiated (2024-05-23 17:27:19 GMT)",
        "Tags": [{"Key": "Name", "Value": "trainer"},
                 {"Key": "guardrails:max-uptime-hours", "Value": "48"}],
        **extra,
    }


def test_a_described_instance_becomes_facts() -> None:
    # Given an on-demand instance that a user stopped
    instance = described()

    # When its facts are taken
    facts = facts_from_instance(instance, "eu-west-1")

    # Then they carry its id, type, zone, region, state, launch time, tags and stop time
    assert facts.instance_id == "i-0123456789abcdef0"
    assert facts.instance_type == "g5.xlarge"
    assert facts.lifecycle == ON_DEMAND
    assert facts.availability_zone == "eu-west-1b"
    assert facts.region == "eu-west-1"
    assert facts.state == "stopped"
    assert facts.launch_time == LAUNCHED
    assert dict(facts.tags) == {"Name": "trainer", "guardrails:max-uptime-hours": "48"}
    assert facts.stopped_at == datetime(2024, 5, 23, 17, 27, 19, tzinfo=UTC)


def test_a_spot_instance_is_priced_as_spot() -> None:
    # Given a spot instance
    instance = described(InstanceLifecycle="spot")

    # When its facts are taken
    facts = facts_from_instance(instance, "eu-west-1")

    # Then its lifecycle is spot
    assert facts.lifecycle == SPOT


def test_an_untagged_running_instance_has_no_tags_and_no_stop_time() -> None:
    # Given a running instance with no tags and no transition reason
    instance = described(State={"Code": 16, "Name": "running"})
    del instance["Tags"], instance["StateTransitionReason"]

    # When its facts are taken
    facts = facts_from_instance(instance, "eu-west-1")

    # Then it has no tags and no stop time
    assert dict(facts.tags) == {}
    assert facts.stopped_at is None
    assert facts.state == "running"


def test_a_tag_without_value_is_an_empty_string() -> None:
    # Given a tag EC2 reports without a Value
    instance = described(Tags=[{"Key": "guardrails:exempt"}])

    # When its facts are taken
    facts = facts_from_instance(instance, "eu-west-1")

    # Then the tag is present with an empty value
    assert dict(facts.tags) == {"guardrails:exempt": ""}


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("User initiated (2024-05-23 17:27:19 GMT)", datetime(2024, 5, 23, 17, 27, 19, tzinfo=UTC)),
        ("Server.ScheduledStop (2023-01-02 03:04:05 UTC)", datetime(2023, 1, 2, 3, 4, 5,
                                                                    tzinfo=UTC)),
        ("", None),
        (None, None),
        ("Client.UserInitiatedShutdown: User initiated shutdown", None),
    ],
)
def test_the_stop_time_is_read_from_the_transition_reason(
    reason: str | None, expected: datetime | None
) -> None:
    # Given a StateTransitionReason as EC2 writes it
    # When its time is read
    stopped_at = _reason_time(reason)  # type: ignore[arg-type]

    # Then it is the UTC time in parentheses, or None when there is none
    assert stopped_at == expected
