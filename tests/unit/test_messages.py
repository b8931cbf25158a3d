"""Alert messages: a short SNS subject, a JSON body, and text that says what to do."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from guardrails.constants import (
    RULE_COST,
    RULE_PRICE_UNKNOWN,
    RULE_RATE,
    RULE_UPTIME,
    TAG_EXEMPT,
)
from guardrails.domain.alerts import DueAlert, Figures
from guardrails.domain.instance import InstanceFacts
from guardrails.domain.messages import SUBJECT_LIMIT, render

IID = "i-0123456789abcdef0"
FACTS = InstanceFacts(instance_id=IID, instance_type="p4d.24xlarge", lifecycle="spot",
                      availability_zone="us-east-1a", region="us-east-1")
AT = datetime(2024, 5, 23, 17, 27, 19, tzinfo=UTC)
FIGURES = Figures(uptime_hours=Decimal("26.25"), accumulated_usd=Decimal("52.5"),
                  rate_usd_per_hour=Decimal(2))
ALERTS = {
    RULE_RATE: DueAlert(RULE_RATE, 0, Decimal(32), Decimal(5), Figures(Decimal("0.5"), Decimal(16),
                                                          Decimal(32))),
    RULE_UPTIME: DueAlert(RULE_UPTIME, 0, Decimal(24), Decimal(24), FIGURES),
    RULE_COST: DueAlert(RULE_COST, 4, Decimal(50), Decimal(50), FIGURES),
    RULE_PRICE_UNKNOWN: DueAlert(RULE_PRICE_UNKNOWN, 0, Decimal(0), None,
                                 Figures(Decimal("0.1"), None, None)),
}
STOP_COMMAND = f"aws ec2 stop-instances --instance-ids {IID}"


@pytest.mark.parametrize("rule", ALERTS)
def test_the_subject_fits_sns_and_names_the_instance(rule: str) -> None:
    # Given an alert of each rule
    alert = ALERTS[rule]

    # When it is rendered
    message = render(alert, FACTS, AT)

    # Then the subject is within SNS's limit, on one line, and names the instance
    assert len(message.subject) <= SUBJECT_LIMIT == 100
    assert "\n" not in message.subject
    assert IID in message.subject


def test_a_huge_figure_is_cut_to_the_subject_limit_but_keeps_the_instance() -> None:
    # Given a cost alert with an absurd figure
    figures = Figures(Decimal(10), Decimal("1e80"), Decimal(1))
    alert = DueAlert(RULE_COST, 0, Decimal(10), Decimal(10), figures)

    # When it is rendered
    message = render(alert, FACTS, AT)

    # Then SNS still accepts the subject, and it still says which instance
    assert len(message.subject) == SUBJECT_LIMIT
    assert IID in message.subject


@pytest.mark.parametrize("rule", ALERTS)
def test_the_body_carries_what_a_machine_needs(rule: str) -> None:
    # Given an alert of each rule
    alert = ALERTS[rule]

    # When it is rendered
    body = render(alert, FACTS, AT).body

    # Then the body names the instance, rule, step, severity, threshold, figures, time and text
    assert body["instance_id"] == IID
    assert body["rule"] == rule
    assert body["step"] == alert.step
    assert body["severity"] in ("warning", "high")
    assert body["threshold"] == (None if alert.threshold is None else float(alert.threshold))
    assert set(body["figures"]) == {"uptime_hours", "accumulated_usd", "rate_usd_per_hour"}
    assert datetime.fromisoformat(body["time"]) == AT
    assert isinstance(body["message"], str) and IID in body["message"]
    # and it is plain JSON
    assert json.loads(json.dumps(body)) == body


def test_the_figures_in_the_body_are_numbers() -> None:
    # Given a cost alert at $52.50 after 26.25 h at $2/h
    alert = ALERTS[RULE_COST]

    # When it is rendered
    body = render(alert, FACTS, AT).body

    # Then the body carries those figures as numbers, and the threshold reached ($50)
    assert body["figures"] == {"uptime_hours": 26.25, "accumulated_usd": 52.5,
                               "rate_usd_per_hour": 2.0}
    assert body["threshold"] == 50.0
    assert (body["instance_type"], body["lifecycle"], body["region"]) == (
        "p4d.24xlarge", "spot", "us-east-1")


@pytest.mark.parametrize(("step", "level"), [(0, "warning"), (1, "high"), (3, "high")])
def test_a_further_step_is_more_severe(step: int, level: str) -> None:
    # Given an uptime alert at some escalation step
    alert = DueAlert(RULE_UPTIME, step, Decimal(24 + 24 * step), Decimal(24 + 24 * step), FIGURES)

    # When it is rendered
    message = render(alert, FACTS, AT)

    # Then the first crossing warns and an unheeded one is high, everywhere it shows
    assert message.body["severity"] == level
    assert message.attributes == {"rule": RULE_UPTIME, "severity": level, "instance_id": IID}
    assert message.subject.startswith(f"[guardrails {level}]")


@pytest.mark.parametrize(
    "rule",
    [
        RULE_RATE,
        RULE_UPTIME,
        RULE_COST,
        RULE_PRICE_UNKNOWN,
    ],
)
def test_the_text_says_how_to_stop_and_how_to_exempt(rule: str) -> None:
    # Given an alert of each rule
    alert = ALERTS[rule]

    # When it is rendered
    text = render(alert, FACTS, AT).body["message"]

    # Then the reader can copy the command that stops the instance, and the tag that exempts it
    assert STOP_COMMAND in text
    assert f"{TAG_EXEMPT}=true" in text


def test_the_text_states_the_figures() -> None:
    # Given a cost alert at $52.50, past $50, at $2/h over 26.25 h
    alert = ALERTS[RULE_COST]

    # When it is rendered
    text = render(alert, FACTS, AT).body["message"]

    # Then the reader sees those figures and the instance's type
    for shown in ("$52.50", "$50.00", "$2.00/h", "26.2 h", "p4d.24xlarge"):
        assert shown in text


def test_an_unknown_cost_is_none_in_the_body_and_unknown_in_the_text() -> None:
    # Given an uptime alert on an instance whose cost is not known
    alert = DueAlert(RULE_UPTIME, 0, Decimal(24), Decimal(24),
                     Figures(Decimal(25), accumulated_usd=None, rate_usd_per_hour=None))

    # When it is rendered
    message = render(alert, FACTS, AT)

    # Then the body says null (never 0) and the text says "unknown" (never $0.00)
    assert message.body["figures"]["accumulated_usd"] is None
    assert message.body["figures"]["rate_usd_per_hour"] is None
    assert "cost unknown" in message.body["message"]
    assert "$0" not in message.body["message"]


def test_an_unknown_rule_is_refused() -> None:
    # Given an alert of a rule the renderer does not know
    alert = DueAlert("gpu-idle", 0, Decimal(0), None, FIGURES)

    # When it is rendered
    # Then it is refused rather than sent with an empty text
    with pytest.raises(ValueError, match="gpu-idle"):
        render(alert, FACTS, AT)
