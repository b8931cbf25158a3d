"""32 training starts at once on one instance: exactly one wins, every time.

In-process moto can let two conditional writes both win; the moto server on 127.0.0.1
serializes them the way DynamoDB does, so the race runs against it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto.server import ThreadedMotoServer

from guardrails.adapters import clients
from guardrails.adapters.runs import RunStore
from guardrails.domain.runs import LockHeld
from guardrails.services import registry
from tests.integration.conftest import create_table

STARTERS = 32
REPETITIONS = 20
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("MOTO_PORT", str(port))
    clients.reset()
    yield endpoint
    clients.reset()
    server.stop()


def test_exactly_one_of_32_concurrent_starts_wins_in_each_of_20_rounds(moto_server: str) -> None:
    create_table(boto3.client("dynamodb"), "race")
    store = RunStore("race")
    ec2 = boto3.client("ec2")
    outcomes = []
    for _ in range(REPETITIONS):
        instance_id = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                        InstanceType="g5.xlarge")["Instances"][0]["InstanceId"]
        barrier = threading.Barrier(STARTERS)
        won: list[str] = []
        refused: list[str] = []

        def start(pid: int, instance_id: str = instance_id, barrier: threading.Barrier = barrier,
                  won: list[str] = won, refused: list[str] = refused) -> None:
            request = registry.RunRequest(pid=pid, command="train", total_epochs=1)
            barrier.wait()
            try:
                won.append(registry.start_run(store, instance_id, request, T0).run_id)
            except LockHeld as held:
                assert held.lock is not None  # the refusal names the live run
                refused.append(held.lock.run_id)

        threads = [threading.Thread(target=start, args=(pid,)) for pid in range(1, STARTERS + 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        outcomes.append((len(won), len(refused)))
        assert len(won) == 1
        assert set(refused) == set(won)  # every refusal names the winner
    assert outcomes == [(1, STARTERS - 1)] * REPETITIONS
