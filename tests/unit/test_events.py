"""Event parsing: real AWS samples are accepted, malformed ones refused with a usable reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from guardrails.events import (
    EventRejected,
    SweepOne,
    parse_state_change,
    parse_sweep_request,
)
from tests.events import sample

# The samples date from 2015-2025; the handler reads them on a later day.
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

Event = dict[str, Any]


@pytest.mark.parametrize(
    ("name", "instance_id", "state", "region", "time"),
    [
        ("ec2-state-running.json", "i-01082ea242dcdc08c", "running", "ap-northeast-1",
         datetime(2021, 11, 11, 21, 29, 54, tzinfo=UTC)),
        ("ec2-state-pending.json", "i-abcd1111", "pending", "us-east-1",
         datetime(2021, 11, 11, 21, 29, 54, tzinfo=UTC)),
        ("ec2-state-terminated.json", "i-1234567890abcdef0", "terminated", "us-west-1",
         datetime(2017, 12, 22, 18, 43, 48, tzinfo=UTC)),
    ],
)
def test_real_state_change_samples_parse(
    name: str, instance_id: str, state: str, region: str, time: datetime
) -> None:
    # Given a real EC2 state-change event
    event = sample(name)

    # When it is parsed
    parsed = parse_state_change(event, NOW)

    # Then the instance, state, region and (UTC) time are what EC2 sent
    assert parsed.detail.instance_id == instance_id
    assert parsed.detail.state == state
    assert parsed.region == region
    assert parsed.time == time
    assert parsed.time.utcoffset() is not None


def test_the_documented_stopped_sample_parses_with_the_id_trimmed() -> None:
    # Given the docs sample with no "version" and an instance id with a leading space
    event = sample("ec2-state-stopped.json")
    assert "version" not in event
    assert event["detail"]["instance-id"] == " i-1234567890abcdef0"

    # When it is parsed
    parsed = parse_state_change(event, NOW)

    # Then it is accepted, with the id stripped and the version EventBridge always sends
    assert parsed.detail.instance_id == "i-1234567890abcdef0"
    assert parsed.detail.state == "stopped"
    assert parsed.version == "0"


def test_a_time_without_zone_is_taken_as_utc() -> None:
    # Given a state-change event whose time carries no zone
    event = sample("ec2-state-running.json")
    event["time"] = "2021-11-11T21:29:54"

    # When it is parsed
    parsed = parse_state_change(event, NOW)

    # Then the time is UTC, so it compares with every other time the ledger holds
    assert parsed.time == datetime(2021, 11, 11, 21, 29, 54, tzinfo=UTC)


def without_detail(event: Event) -> None:
    del event["detail"]


def set_detail(key: str, value: object) -> Callable[[Event], None]:
    def change(event: Event) -> None:
        event["detail"][key] = value
    return change


def set_field(key: str, value: object) -> Callable[[Event], None]:
    def change(event: Event) -> None:
        event[key] = value
    return change


@pytest.mark.parametrize(
    ("change", "named"),
    [
        pytest.param(without_detail, "detail", id="missing-detail"),
        pytest.param(set_detail("state", "exploded"), "detail.state", id="unknown-state"),
        pytest.param(set_detail("instance-id", 42), "detail.instance-id", id="numeric-id"),
        pytest.param(set_detail("instance-id", "abc"), "detail.instance-id", id="bad-id"),
        pytest.param(set_detail("instance-id", "i-123"), "detail.instance-id", id="short-id"),
        pytest.param(set_field("time", "yesterday"), "time", id="bad-time"),
        pytest.param(set_field("source", "my.app"), "source", id="wrong-source"),
        pytest.param(set_field("detail-type", "EC2 Spot Instance Interruption Warning"),
                     "detail-type", id="wrong-detail-type"),
    ],
)
def test_a_malformed_state_change_is_rejected_naming_the_field(
    change: Callable[[Event], None], named: str
) -> None:
    # Given a real state-change event, spoiled in one place
    event = sample("ec2-state-running.json")
    change(event)

    # When it is parsed
    # Then it is rejected, and the reason names the field at fault
    with pytest.raises(EventRejected) as rejected:
        parse_state_change(event, NOW)
    assert named in str(rejected.value)


def test_several_problems_are_all_named() -> None:
    # Given an event with a bad id and a bad state
    event = sample("ec2-state-running.json")
    event["detail"] = {"instance-id": "abc", "state": "exploded"}

    # When it is parsed
    with pytest.raises(EventRejected) as rejected:
        parse_state_change(event, NOW)

    # Then both are named, so one fix is enough
    assert "detail.instance-id" in str(rejected.value)
    assert "detail.state" in str(rejected.value)


@pytest.mark.parametrize("wrap", [lambda e: [e], lambda e: "{}", lambda e: None],
                         ids=["list", "string", "null"])
def test_something_other_than_an_object_is_rejected(wrap: Callable[[Event], object]) -> None:
    # Given an input that is not a JSON object (e.g. a real event inside a list)
    event = wrap(sample("ec2-state-running.json"))

    # When it is parsed as a state change or a sweep request
    # Then both refuse it, saying what they got
    with pytest.raises(EventRejected, match="expected a JSON object, got"):
        parse_state_change(event, NOW)
    with pytest.raises(EventRejected, match="expected a JSON object, got"):
        parse_sweep_request(event)


def test_another_ec2_event_is_not_taken_for_a_state_change() -> None:
    # Given a real spot interruption warning (also from aws.ec2)
    event = sample("spot-interruption-warning.json")

    # When it is parsed as a state change
    # Then it is rejected, naming its detail-type
    with pytest.raises(EventRejected, match="detail-type 'EC2 Spot Instance Interruption"):
        parse_state_change(event, NOW)


@pytest.mark.parametrize("name", ["scheduled-event.json", "eventbridge-scheduler-invocation.json"])
def test_a_scheduled_invocation_asks_for_a_full_sweep(name: str) -> None:
    # Given the periodic EventBridge rule's event, or a Scheduler invocation (detail "{}")
    event = sample(name)

    # When it is parsed as a sweep request
    request = parse_sweep_request(event)

    # Then it is a sweep of every instance
    assert request is None


def test_a_crossing_schedule_asks_to_sweep_one_instance() -> None:
    # Given the input a one-time crossing schedule sends
    event = {"instance_id": "i-0123456789abcdef0", "rule": "cost", "step": 2,
             "due": "2024-05-23T17:27:19+00:00"}

    # When it is parsed as a sweep request
    request = parse_sweep_request(event)

    # Then it names that instance and crossing
    assert request == SweepOne(instance_id="i-0123456789abcdef0", rule="cost", step=2,
                               due=datetime(2024, 5, 23, 17, 27, 19, tzinfo=UTC))


def test_a_sweep_request_naming_only_an_instance_is_enough() -> None:
    # Given a hand-made request naming just an instance (with a stray space)
    event = {"instance_id": " i-abcd1111"}

    # When it is parsed
    request = parse_sweep_request(event)

    # Then it sweeps that instance
    assert isinstance(request, SweepOne)
    assert request.instance_id == "i-abcd1111"
    assert (request.rule, request.step, request.due) == (None, None, None)


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({"instance_id": "nope"}, "instance_id"),
        ({"instance_id": "i-0123456789abcdef0", "step": "second"}, "step"),
        ({"instance_id": "i-0123456789abcdef0", "due": "soon"}, "due"),
    ],
)
def test_a_malformed_sweep_request_is_rejected_naming_the_field(event: Event, named: str) -> None:
    # Given a sweep request with a bad field
    # When it is parsed
    # Then it is rejected, and the reason names the field
    with pytest.raises(EventRejected) as rejected:
        parse_sweep_request(event)
    assert named in str(rejected.value)


def test_a_state_change_sent_to_the_sweep_is_rejected() -> None:
    # Given an event that is neither a schedule nor a request naming an instance
    event = sample("ec2-state-running.json")

    # When it is parsed as a sweep request
    # Then it is rejected instead of sweeping everything
    with pytest.raises(EventRejected, match="instance_id"):
        parse_sweep_request(event)


@pytest.mark.parametrize("time", [12345, 1700000000.5, None])
def test_a_time_that_is_not_iso_text_is_rejected(time: object) -> None:
    # Given an event whose time is a number (pydantic alone would read it as epoch seconds)
    event = sample("ec2-state-running.json")
    event["time"] = time

    # Then it is rejected, and the message says what a time must look like
    with pytest.raises(EventRejected, match=r"time: .*ISO 8601"):
        parse_state_change(event, NOW)


def test_an_event_from_the_future_is_rejected() -> None:
    # Given an event stamped an hour after the handler's clock
    event = sample("ec2-state-running.json")
    event["time"] = "2026-11-02T10:00:00Z"

    # Then it is rejected: a future transition would pin the ledger's state
    with pytest.raises(EventRejected, match="in the future"):
        parse_state_change(event, NOW)
