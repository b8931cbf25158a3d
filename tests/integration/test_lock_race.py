"""32 training starts at once on one instance: exactly one wins, every time.

The starts go over HTTP to the moto server on 127.0.0.1, from 32 threads. Moto checks a
condition and then writes without a lock, so under load two conditional writes can both win
there too (seen: 2 winners in 1 of 3 runs on a busy machine). DynamoDB applies each write
atomically; the fixture gives moto's DynamoDB writes that one guarantee, so what is tested is
our use of it: the conditional LOCK, and the refusal that names the winner."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto.dynamodb.models import DynamoDBBackend
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
    # Reentrant: moto's transaction calls its own put and update inside.
    one_at_a_time = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        write = getattr(DynamoDBBackend, name)

        def atomic(self: Any, *args: Any, _write: Any = write, **kwargs: Any) -> Any:
            with one_at_a_time:
                return _write(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, atomic)
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
