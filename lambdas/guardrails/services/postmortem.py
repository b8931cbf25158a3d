"""The post-mortem of a termination that went around the workflow (issue 4)."""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools import Logger

from guardrails.adapters.notifier import Notifier
from guardrails.adapters.runs import RunStore
from guardrails.constants import RULE_POST_MORTEM, SERVICE_NAME
from guardrails.domain.guard_messages import render_post_mortem
from guardrails.domain.postmortem import post_mortem
from guardrails.services.once import publish_once

logger = Logger(service=SERVICE_NAME, child=True)


def report_bypass(store: RunStore, notifier: Notifier, instance_id: str, state: str,
                  at: datetime) -> bool:
    """shutting-down or terminated: release the live run; if that lost it or a checkpoint
    only on disk, and the workflow was not the one terminating, send the post-mortem (once)."""
    view = store.collection(instance_id)
    if view.lock is not None:
        # Its process is gone with the instance, whoever terminated it: free the registry
        # now rather than raise a stale-run alert later.
        store.release_stale(instance_id, view.lock, at)
    report = post_mortem(instance_id, view.lock, view.runs, view.checkpoints, view.audits,
                         view.record.ledger if view.record else None, at)
    if report is None:
        return False
    sent = publish_once(store, notifier, instance_id, RULE_POST_MORTEM, "lost",
                        render_post_mortem(report, state, at), at)
    logger.warning("termination around the workflow lost work", instance_id=instance_id,
                   runs=[r.run_id for r in report.live_runs],
                   checkpoints=[c.path for c in report.lost_checkpoints], alerted=sent)
    return sent
