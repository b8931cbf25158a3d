"""The `check` step of the pre-termination workflow (issue 4): read everything the table
knows about the instance, ask SSM about a live run's process, decide; fail closed."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from guardrails.adapters import ssm
from guardrails.adapters.runs import RunStore
from guardrails.constants import SERVICE_NAME
from guardrails.domain.instance import SPOT
from guardrails.domain.termination import TerminationDecision, decide, unknown

logger = Logger(service=SERVICE_NAME, child=True)


def check(store: RunStore, instance_id: str) -> TerminationDecision:
    try:
        view = store.collection(instance_id)
        process = ssm.pid_alive(instance_id, view.lock.pid) if view.lock else None
        spot = view.record is not None and view.record.facts.lifecycle == SPOT
        return decide(instance_id, view.lock, view.checkpoints, spot, process)
    except Exception as error:
        logger.exception("termination check failed; answering unknown", instance_id=instance_id)
        return unknown(f"{type(error).__name__}: {error}")
