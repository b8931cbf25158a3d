"""The emulator's EC2 on the guardrails' clock.

moto stamps `LaunchTime` and a stop's `StateTransitionReason` with the real clock, and
keeps `LaunchTime` when a stopped instance starts again. With the local clock running
`--speed` times faster, the handlers would read uptimes hours off. Here both come from the
clock the handlers read (`guardrails.adapters.clock.now`), and `LaunchTime` is renewed on
every start, as EC2 does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from unittest import mock

from moto.ec2.models import instances

from guardrails.adapters import clock


def _naive_now() -> datetime:  # moto keeps naive UTC datetimes
    return clock.now().replace(tzinfo=None)


@contextmanager
def on_guardrails_clock() -> Iterator[None]:
    moto_start = instances.Instance.start

    def start(instance: Any) -> Any:
        previous = moto_start(instance)
        if previous.name != "running":
            instance.launch_time = _naive_now()
        return previous

    with mock.patch.object(instances, "utcnow", _naive_now), \
            mock.patch.object(instances.Instance, "start", start):
        yield
