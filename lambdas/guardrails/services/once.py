"""Send an alert at most once per (instance, rule, key)."""

from __future__ import annotations

from datetime import datetime

from guardrails.adapters.notifier import Notifier
from guardrails.adapters.runs import RunStore
from guardrails.domain.messages import AlertMessage


def publish_once(store: RunStore, notifier: Notifier, instance_id: str, rule: str, key: str,
                 message: AlertMessage, at: datetime) -> bool:
    """Claim, publish; on a failed publish give the claim back so a retry sends it."""
    if not store.claim_once(instance_id, rule, key, at):
        return False
    try:
        notifier.publish(message)
    except Exception:
        store.unclaim(instance_id, rule, key)
        raise
    return True
