"""Runs that stopped heartbeating: confirm over SSM when possible, release, alert once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from guardrails.adapters import ssm
from guardrails.adapters.notifier import Notifier
from guardrails.adapters.runs import RunStore
from guardrails.constants import RULE_STALE_RUN, SERVICE_NAME
from guardrails.domain.messages import render_stale_run
from guardrails.services import registry

logger = Logger(service=SERVICE_NAME, child=True)


@dataclass
class StaleReport:
    released: list[str] = field(default_factory=list)
    still_alive: list[str] = field(default_factory=list)


def release_stale_runs(store: RunStore, notifier: Notifier, timeout: timedelta,
                       now: datetime) -> StaleReport:
    """Every live run with no heartbeat for `timeout`: if SSM says its process still runs,
    leave it; otherwise (dead, or SSM unavailable) mark it stale, free the instance, alert."""
    report = StaleReport()
    for instance_id, lock in store.stale_locks(now - timeout):
        if ssm.pid_alive(instance_id, lock.pid) is True:
            logger.info("run is silent but its process is alive", instance_id=instance_id,
                        run_id=lock.run_id, pid=lock.pid)
            report.still_alive.append(lock.run_id)
            continue
        if not store.release_stale(instance_id, lock.run_id, now):
            continue  # it heartbeated or finished meanwhile
        report.released.append(lock.run_id)
        logger.warning("stale run released", instance_id=instance_id, run_id=lock.run_id)
        if store.claim_once(instance_id, RULE_STALE_RUN, lock.run_id, now):
            try:
                notifier.publish(render_stale_run(instance_id, lock, timeout, now))
            except Exception:
                store.unclaim(instance_id, RULE_STALE_RUN, lock.run_id)
                raise
        registry.promote_next(store, instance_id, now)
        registry.sync_protection(store, instance_id)
    return report
