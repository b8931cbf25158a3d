"""The one place that reads the wall clock, so tests and local mode can move time."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
