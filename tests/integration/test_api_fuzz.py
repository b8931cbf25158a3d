"""Bad bodies never get a 5xx and never write: hypothesis, 500 examples per write route."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails.adapters import clients
from tests.integration.conftest import Guardrails

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem",
          "ModifyInstanceAttribute"}
RUN = "20261102T090000000000-abcdef"
VALID = {
    "runs": {"pid": 4242, "command": "python train.py", "total_epochs": 3},
    f"runs/{RUN}/heartbeat": {"epoch": 1, "step": 10, "total": 3, "metrics": {"loss": 0.5}},
    f"runs/{RUN}/checkpoints": {"path": "/ckpt/e1.pt", "epoch": 1, "bytes": 10,
                                "sha256": "a" * 64},
    f"runs/{RUN}/finish": {"status": "finished"},
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                  max_size=4),
    max_leaves=12)


def broken(valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Bodies a careless or hostile client sends: each a valid body with one thing wrong,
    or something that is not a body at all."""
    field = st.sampled_from(sorted(valid))
    wrong_value = st.one_of(
        st.integers(max_value=-1), st.text(min_size=5000, max_size=5000),
        st.just(None), st.lists(st.integers(), max_size=3), json_values)
    return st.one_of(
        st.builds(lambda k, v: {**valid, k: v}, field, wrong_value),
        st.builds(lambda k: {x: y for x, y in valid.items() if x != k}, field),
        st.builds(lambda k, v: {**valid, f"x_{k}": v}, st.text(min_size=1, max_size=8),
                  json_values),
        json_values,
        st.text(max_size=50).map(lambda t: {"__raw__": t}),
    )


def as_body(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"__raw__"}:
        return str(value["__raw__"])  # not JSON, or JSON of the wrong shape
    return json.dumps(value)


@pytest.mark.parametrize("route", sorted(VALID))
def test_bad_bodies_get_a_readable_4xx_and_write_nothing(
    guardrails: Guardrails, route: str
) -> None:
    g = guardrails
    iid = g.launch("g5.xlarge")
    g.state_change(iid, "running", T0)
    before = g.items()
    seen: dict[int, int] = {}
    writes: list[str] = []

    def count_writes(model: Any, **_: Any) -> None:
        if model.name in WRITES:
            writes.append(model.name)

    clients.client("dynamodb").meta.events.register("before-call", count_writes)
    clients.client("ec2").meta.events.register("before-call", count_writes)

    @settings(max_examples=500, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(body=broken(VALID[route]))
    def check(body: Any) -> None:
        writes.clear()
        status, answer = g.api("POST", f"/instances/{iid}/{route}", as_body(body),
                               caller=iid, at=T0)
        seen[status] = seen.get(status, 0) + 1
        assert status < 500, (status, answer)
        # A mutation can land on a valid body (say, another positive pid): that one may
        # succeed. Everything refused is refused in words, and a 422 writes nothing.
        if status >= 400:
            assert answer["message"] and answer["error"]
        if status == 422:
            assert writes == []

    check()
    assert seen.get(422, 0) > 0.9 * sum(seen.values())  # the mutations are mostly invalid
    if seen[422] == sum(seen.values()):
        assert g.items() == before


@pytest.mark.parametrize(("body", "status"), [
    ('{"pid": ' + "9" * 5000 + "}", 422),
    ("[" * 50_000, 422),
    ('{"command": "' + "x" * 70_000 + '"}', 413),
])
def test_bodies_that_break_json_parsers_get_a_4xx(
    guardrails: Guardrails, body: str, status: int
) -> None:
    g = guardrails
    iid = g.launch("g5.xlarge")
    got, answer = g.api("POST", f"/instances/{iid}/runs", body, caller=iid, at=T0)
    assert got == status
    assert answer["message"]
