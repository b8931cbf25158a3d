"""Warning thresholds: stack defaults, overridden per instance by tags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from guardrails.constants import (
    TAG_EXEMPT,
    TAG_MAX_ACCUMULATED_USD,
    TAG_MAX_HOURLY_USD,
    TAG_MAX_UPTIME_HOURS,
)


@dataclass(frozen=True)
class Thresholds:
    max_uptime_hours: Decimal
    max_accumulated_usd: Decimal
    max_hourly_usd: Decimal
    uptime_step_hours: Decimal
    cost_step_usd: Decimal
    exempt: bool = False


_TAG_FIELDS = {
    TAG_MAX_UPTIME_HOURS: "max_uptime_hours",
    TAG_MAX_ACCUMULATED_USD: "max_accumulated_usd",
    TAG_MAX_HOURLY_USD: "max_hourly_usd",
}


def for_instance(defaults: Thresholds, tags: Mapping[str, str]) -> tuple[Thresholds, list[str]]:
    """The thresholds that apply to an instance, and a problem line per ignored tag."""
    overrides: dict[str, Decimal] = {}
    problems: list[str] = []
    for tag, field in _TAG_FIELDS.items():
        if tag not in tags:
            continue
        value = _positive_number(tags[tag])
        if value is None:
            problems.append(
                f"tag {tag}={tags[tag]!r} ignored: it must be a positive number; "
                f"the default {getattr(defaults, field)} applies"
            )
        else:
            overrides[field] = value
    exempt = tags.get(TAG_EXEMPT, "").strip().lower() == "true"
    return replace(defaults, exempt=exempt, **overrides), problems


def _positive_number(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() and value > 0 else None
