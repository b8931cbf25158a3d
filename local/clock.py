"""The local stack's clock: real time, `speed` times faster, from the moment it starts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class LocalClock:
    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.start = start or datetime.now(UTC).replace(microsecond=0)
        self._real_start = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._real_start) * self.speed)

    def real_seconds(self, simulated: timedelta) -> float:
        """How long `simulated` takes in real time."""
        return simulated.total_seconds() / self.speed
