"""Per-instance thresholds: stack defaults, overridden by the instance's guardrails:* tags."""

from __future__ import annotations

from decimal import Decimal

import pytest

from guardrails.constants import (
    TAG_EXEMPT,
    TAG_MAX_ACCUMULATED_USD,
    TAG_MAX_HOURLY_USD,
    TAG_MAX_UPTIME_HOURS,
)
from guardrails.domain.thresholds import Thresholds, for_instance

DEFAULTS = Thresholds(max_uptime_hours=Decimal(24), max_accumulated_usd=Decimal(10),
                      max_hourly_usd=Decimal(5), uptime_step_hours=Decimal(24),
                      cost_step_usd=Decimal(10))
NUMERIC_TAGS = {
    TAG_MAX_UPTIME_HOURS: "max_uptime_hours",
    TAG_MAX_ACCUMULATED_USD: "max_accumulated_usd",
    TAG_MAX_HOURLY_USD: "max_hourly_usd",
}


def test_an_untagged_instance_gets_the_defaults() -> None:
    # Given an instance with only unrelated tags
    tags = {"Name": "trainer", "team": "ml"}

    # When its thresholds are worked out
    limits, problems = for_instance(DEFAULTS, tags)

    # Then the stack defaults apply, nothing is exempt, and nothing is reported
    assert limits == DEFAULTS
    assert not limits.exempt
    assert problems == []


@pytest.mark.parametrize(("tag", "field"), NUMERIC_TAGS.items())
def test_a_tag_overrides_its_threshold(tag: str, field: str) -> None:
    # Given an instance tagged with a larger limit (with stray whitespace)
    tags = {tag: " 72.5 "}

    # When its thresholds are worked out
    limits, problems = for_instance(DEFAULTS, tags)

    # Then that limit is the tag's, and every other one stays the default
    assert getattr(limits, field) == Decimal("72.5")
    for other in NUMERIC_TAGS.values():
        if other != field:
            assert getattr(limits, other) == getattr(DEFAULTS, other)
    assert (limits.uptime_step_hours, limits.cost_step_usd) == (Decimal(24), Decimal(10))
    assert problems == []


@pytest.mark.parametrize("value", ["abc", "-1", "0", "nan", "inf", "", "5 USD"])
@pytest.mark.parametrize(("tag", "field"), NUMERIC_TAGS.items())
def test_an_invalid_tag_value_is_ignored_and_reported(tag: str, field: str, value: str) -> None:
    # Given an instance whose limit tag is not a positive number
    tags = {tag: value}

    # When its thresholds are worked out
    limits, problems = for_instance(DEFAULTS, tags)

    # Then the default applies, and one problem line names the tag, its value and the default
    assert getattr(limits, field) == getattr(DEFAULTS, field)
    assert len(problems) == 1
    assert tag in problems[0]
    assert repr(value) in problems[0]
    assert str(getattr(DEFAULTS, field)) in problems[0]


def test_a_bad_tag_does_not_spoil_the_good_ones() -> None:
    # Given one valid and one invalid limit tag
    tags = {TAG_MAX_UPTIME_HOURS: "48", TAG_MAX_HOURLY_USD: "lots"}

    # When the thresholds are worked out
    limits, problems = for_instance(DEFAULTS, tags)

    # Then the valid one applies, and only the invalid one is reported
    assert limits.max_uptime_hours == Decimal(48)
    assert limits.max_hourly_usd == DEFAULTS.max_hourly_usd
    assert len(problems) == 1
    assert TAG_MAX_HOURLY_USD in problems[0]


@pytest.mark.parametrize("value", ["true", "TRUE", "True", "  true\n"])
def test_exempt_is_true_for_the_word_true_in_any_case(value: str) -> None:
    # Given an instance tagged exempt
    tags = {TAG_EXEMPT: value}

    # When its thresholds are worked out
    limits, problems = for_instance(DEFAULTS, tags)

    # Then it is exempt
    assert limits.exempt
    assert problems == []


@pytest.mark.parametrize("value", ["false", "yes", "1", "", "truee", "t rue"])
def test_exempt_is_false_for_anything_else(value: str) -> None:
    # Given an instance whose exempt tag is not "true"
    tags = {TAG_EXEMPT: value}

    # When its thresholds are worked out
    limits, _ = for_instance(DEFAULTS, tags)

    # Then it is not exempt: only an explicit "true" silences the guardrails
    assert not limits.exempt
