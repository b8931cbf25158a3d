"""What the API routes share: the run store, built once per container."""

from __future__ import annotations

from functools import cache

from guardrails.adapters.notifier import Notifier
from guardrails.adapters.runs import RunStore
from guardrails.settings import Settings


@cache
def settings() -> Settings:
    return Settings.from_env()


def store() -> RunStore:
    return _store(settings().table_name)


@cache
def _store(table_name: str) -> RunStore:
    return RunStore(table_name)


@cache
def notifier() -> Notifier:
    return Notifier(settings().alerts_topic_arn)
