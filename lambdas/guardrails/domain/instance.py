"""What the guardrails know about one instance: EC2 facts plus the accounting ledger."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from guardrails.domain.ledger import Ledger

SPOT = "spot"
ON_DEMAND = "on-demand"


@dataclass(frozen=True)
class InstanceFacts:
    """One instance as DescribeInstances reports it."""

    instance_id: str
    instance_type: str
    lifecycle: str
    availability_zone: str
    region: str
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    state: str | None = None
    launch_time: datetime | None = None
    # When the instance left `running`, if EC2 said so (StateTransitionReason).
    stopped_at: datetime | None = None


@dataclass(frozen=True)
class InstanceRecord:
    """The META item: facts as last described, the ledger, and the highest level alerted per
    rule (hours, USD, or USD/h for the rate)."""

    facts: InstanceFacts
    ledger: Ledger = field(default_factory=Ledger)
    alerted: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))
    version: int = 0

    @property
    def instance_id(self) -> str:
        return self.facts.instance_id
