"""The adapters one function works with, built from its settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from guardrails.adapters.audit import AuditLog
from guardrails.adapters.ec2 import Ec2
from guardrails.adapters.notifier import Notifier
from guardrails.adapters.pricing import PriceBook
from guardrails.adapters.runs import RunStore
from guardrails.adapters.scheduler import AlertScheduler
from guardrails.adapters.table import InstanceTable
from guardrails.services.enforcement import Enforcer
from guardrails.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    table: InstanceTable
    ec2: Ec2
    prices: PriceBook
    scheduler: AlertScheduler
    notifier: Notifier
    runs: RunStore
    enforcer: Enforcer


def build(settings: Settings, sweep_function_arn: str | None = None) -> Services:
    table = InstanceTable(settings.table_name)
    target = sweep_function_arn or settings.sweep_function_arn
    if not target:
        raise ValueError("no sweep function ARN: set SWEEP_FUNCTION_ARN")
    scheduler = AlertScheduler(settings.schedule_group, settings.scheduler_role_arn, target)
    notifier = Notifier(settings.alerts_topic_arn)
    runs = RunStore(settings.table_name)
    return Services(
        settings=settings,
        table=table,
        ec2=Ec2(),
        prices=PriceBook(table),
        scheduler=scheduler,
        notifier=notifier,
        runs=runs,
        enforcer=Enforcer(store=runs, audit=AuditLog(settings.table_name), notifier=notifier,
                          scheduler=scheduler, defaults=settings.hard_limits,
                          checkpoint_wait=timedelta(minutes=settings.checkpoint_wait_minutes),
                          bucket=settings.checkpoint_bucket),
    )
