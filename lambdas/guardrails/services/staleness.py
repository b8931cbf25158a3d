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
from guardrails.domain.runs import Lock
from guardrails.services import registry
from guardrails.services.once import publish_once

logger = Logger(service=SERVICE_NAME, child=True)


@dataclass
class StaleReport:
    released: list[str] = field(default_factory=list)
    still_alive: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def release_stale_runs(store: RunStore, notifier: Notifier, timeout: timedelta,
                       now: datetime) -> StaleReport:
    """Every live run with no heartbeat for `timeout`: SSM's `ps` decides where the instance
    has SSM (alive, or no clear answer: keep it); without SSM, or with the process gone, it
    is marked stale, the instance freed (queue promoted, protection resynced), and alerted."""
    report = StaleReport()
    failed: list[str] = []
    for instance_id, lock in store.stale_locks(now - timeout):
        try:
            _check(store, notifier, instance_id, lock, timeout, now, report)
        except Exception:
            logger.exception("stale check failed", instance_id=instance_id, run_id=lock.run_id)
            failed.append(lock.run_id)
    report.failed = failed
    return report


def _check(store: RunStore, notifier: Notifier, instance_id: str, lock: Lock,
           timeout: timedelta, now: datetime, report: StaleReport) -> None:
    verdict = ssm.pid_alive(instance_id, lock.pid)
    if verdict is not ssm.DEAD and verdict is not ssm.UNMANAGED:
        # Alive, or SSM answered nothing usable: a live run is never released on a guess.
        logger.info("silent run kept", instance_id=instance_id, run_id=lock.run_id,
                    pid=lock.pid, ssm=verdict)
        report.still_alive.append(lock.run_id)
        return
    if not store.release_stale(instance_id, lock, now):
        return  # it heartbeated or finished meanwhile
    report.released.append(lock.run_id)
    logger.warning("stale run released", instance_id=instance_id, run_id=lock.run_id)
    # Free the instance fully before telling anyone: a failed alert must not strand the queue.
    registry.promote_next(store, instance_id, now)
    registry.sync_protection(store, instance_id)
    publish_once(store, notifier, instance_id, RULE_STALE_RUN, lock.run_id,
                 render_stale_run(instance_id, lock, timeout, now), now)
