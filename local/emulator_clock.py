"""The emulator's timestamps on the guardrails' clock.

moto stamps `LaunchTime`, a stop's `StateTransitionReason` and a put event's `time` with
the real clock, and keeps `LaunchTime` when a stopped instance starts again. With the local
clock running `--speed` times faster, the handlers would read uptimes hours off. Here they
come from the clock the handlers read (`guardrails.adapters.clock.now`), and `LaunchTime` is
renewed on every start, as EC2 does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from unittest import mock

from moto.ec2.models import instances
from moto.events import models as events

from guardrails.adapters import clock


def _naive_now() -> datetime:  # moto keeps naive UTC datetimes
    return clock.now().replace(tzinfo=None)


def _unix_now() -> float:
    return clock.now().timestamp()


@contextmanager
def on_guardrails_clock() -> Iterator[None]:
    moto_start = instances.Instance.start

    def start(instance: Any) -> Any:
        previous = moto_start(instance)
        if previous.name != "running":
            instance.launch_time = _naive_now()
        return previous

    with mock.patch.object(instances, "utcnow", _naive_now), \
            mock.patch.object(instances.Instance, "start", start), \
            mock.patch.object(events, "unix_time", _unix_now):
        yield
