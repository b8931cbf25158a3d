"""What the API routes share: the run store, built once per container."""

from __future__ import annotations

from functools import cache

from guardrails.adapters.runs import RunStore
from guardrails.settings import Settings


@cache
def store() -> RunStore:
    return RunStore(Settings.from_env().table_name)
