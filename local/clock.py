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
        self._base, self._real_base = self.start, time.monotonic()

    def now(self) -> datetime:
        return self._base + timedelta(seconds=(time.monotonic() - self._real_base) * self.speed)

    def set_speed(self, speed: float) -> None:
        """Run `speed` times faster from now on (the time so far stays as it was)."""
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._base, self._real_base = self.now(), time.monotonic()
        self.speed = speed
