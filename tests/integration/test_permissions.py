"""Every AWS call the handlers make is allowed by the role the stack gives that function."""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from guardrails.adapters import clients
from guardrails.handlers import api, on_state_change, sweep
from guardrails.routing import API_HANDLER, ON_STATE_CHANGE_HANDLER, SWEEP_HANDLER
from tests.infra.conftest import synth
from tests.integration.conftest import BUCKET, Guardrails

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SERVICES = ("ec2", "dynamodb", "sns", "scheduler", "pricing", "ssm")


# API operations that IAM authorizes through other actions.
IAM_ACTIONS_OF = {"s3:HeadObject": {"s3:GetObject"}}
# A transaction needs the action of each item it writes or checks.
TRANSACT_PARTS = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem",
                  "Delete": "dynamodb:DeleteItem", "ConditionCheck": "dynamodb:ConditionCheckItem"}


def actions_of_call(model: Any, params: dict[str, Any]) -> set[str]:
    """The IAM actions one API call needs."""
    action = iam_action(model.service_model.signing_name, model.name)
    if action == "dynamodb:TransactWriteItems":
        return {TRANSACT_PARTS[kind] for item in params.get("TransactItems", [])
                for kind in item}
    return IAM_ACTIONS_OF.get(action, {action})


# SigV4 signing names that differ from the IAM service prefix.
IAM_PREFIX = {"monitoring": "cloudwatch"}


def iam_action(service: str, operation: str) -> str:
    return f"{IAM_PREFIX.get(service, service)}:{operation}"


def allowed_actions(template: dict[str, Any], handler: str) -> set[str]:
    resources = template["Resources"]
    [role] = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in resources.values()
              if f["Type"] == "AWS::Lambda::Function" and f["Properties"]["Handler"] == handler]
    actions: set[str] = set()
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        if {"Ref": role} not in resource["Properties"]["Roles"]:
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def test_every_call_a_handler_makes_is_in_its_role(
    guardrails: Guardrails, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    g = guardrails
    made: dict[str, set[str]] = defaultdict(set)
    current = {"handler": ""}

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        made[current["handler"]].update(actions_of_call(model, params))
        made["operations"].add(iam_action(model.service_model.signing_name, model.name))

    def tracked(handler: str, real: Any) -> Any:
        def run(event: Any, context: Any) -> Any:
            current["handler"] = handler
            return real(event, context)
        return run

    monkeypatch.setattr(on_state_change, "handler",
                        tracked(ON_STATE_CHANGE_HANDLER, on_state_change.handler))
    monkeypatch.setattr(sweep, "handler", tracked(SWEEP_HANDLER, sweep.handler))
    monkeypatch.setattr(api, "handler", tracked(API_HANDLER, api.handler))
    import boto3

    pricing_api = boto3.client("pricing", region_name="us-east-1")
    stubber = Stubber(pricing_api)
    stubber.add_client_error("get_products", "ThrottlingException")
    stubber.add_client_error("get_products", "ThrottlingException")
    stubber.activate()
    clients.override("pricing", pricing_api)
    # SSM with no managed instance (moto does not implement DescribeInstanceInformation)
    ssm_api = boto3.client("ssm", region_name="us-east-1")
    ssm_api.meta.events.register(
        "before-call.ssm.DescribeInstanceInformation",
        lambda **_: (AWSResponse("", 200, {}, None), {"InstanceInformationList": []}))
    clients.override("ssm", ssm_api)
    for service in SERVICES:
        clients.client(service).meta.events.register("before-parameter-build", record)

    # Every path: start (pricing, alert, schedules), a missed stop, sweeps, escalation, stop
    p4d, spot, quiet = g.launch(), g.launch(spot=True), g.launch("g5.xlarge")
    g.state_change(p4d, "running", T0)
    g.state_change(spot, "running", T0)
    g.fire_schedules(until=T0 + timedelta(hours=2))
    g.run_sweep(T0 + timedelta(hours=2))
    g.stop_in_ec2(quiet)
    g.run_sweep(T0 + timedelta(hours=3))
    g.stop_in_ec2(p4d)
    g.state_change(p4d, "stopping", T0 + timedelta(hours=3))
    g.fire_schedules(until=T0 + timedelta(hours=30))
    # The registry: start, queue, heartbeat, checkpoint, finish (promotes), and the reads
    trainer = g.launch("g5.xlarge")
    g.state_change(trainer, "running", T0)
    body = {"pid": 7, "command": "train", "total_epochs": 2}
    _, live = g.api("POST", f"/instances/{trainer}/runs", body, caller=trainer, at=T0)
    g.api("POST", f"/instances/{trainer}/runs", {**body, "queue": True}, caller=trainer)
    run = live["run"]["run_id"]
    g.api("POST", f"/instances/{trainer}/runs/{run}/heartbeat",
          {"epoch": 1, "step": 1, "total": 2}, caller=trainer)
    g.api("POST", f"/instances/{trainer}/runs/{run}/checkpoints",
          {"path": "/c", "epoch": 1, "bytes": 1, "sha256": "a" * 64}, caller=trainer)
    g.api("POST", f"/instances/{trainer}/runs/{run}/finish", {"status": "finished"},
          caller=trainer)
    g.api("GET", "/instances")
    g.api("GET", f"/instances/{trainer}")
    # A run that goes silent is released by the sweep
    g.api("POST", f"/instances/{trainer}/runs", body, caller=trainer, at=T0 + timedelta(
        hours=40))
    g.run_sweep(T0 + timedelta(hours=41))

    template = synth(tmp_path)[1].to_json()
    for handler in (ON_STATE_CHANGE_HANDLER, SWEEP_HANDLER, API_HANDLER):
        assert made[handler], f"the scenario never ran {handler}"
        missing = made[handler] - allowed_actions(template, handler)
        assert not missing, f"{handler} calls what its role does not allow: {sorted(missing)}"
    # And the scenario reached the calls that matter most
    everything = set().union(*made.values())
    for needed in ("scheduler:CreateSchedule", "scheduler:ListSchedules",
                   "scheduler:DeleteSchedule", "sns:Publish", "dynamodb:BatchGetItem",
                   "pricing:GetProducts", "ec2:DescribeSpotPriceHistory",
                   "dynamodb:TransactWriteItems", "ec2:ModifyInstanceAttribute",
                   "dynamodb:Scan", "dynamodb:Query", "ssm:DescribeInstanceInformation"):
        assert needed in everything
    assert all(re.fullmatch(r"[a-z0-9]+:[A-Za-z]+", a) for a in everything)


class CallTracker:
    """Which IAM actions each tracked handler's AWS calls need, on whatever thread the
    handler runs (the workflow's tasks run on moto's execution thread)."""

    # Operations noted by name only: IAM authorizes them through other actions.
    OPERATIONS_ONLY = frozenset({"s3:HeadObject", "dynamodb:TransactWriteItems"})

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.made: dict[str, set[str]] = defaultdict(set)
        self.local = threading.local()
        for service in ("ec2", "dynamodb", "sns", "s3", "stepfunctions", "scheduler",
                        "cloudwatch"):
            clients.client(service).meta.events.register(
                "before-parameter-build",
                lambda model, params, **_: self.note(
                    *actions_of_call(model, params),
                    iam_action(model.service_model.signing_name, model.name)))

    def note(self, *actions: str) -> None:
        self.made[getattr(self.local, "handler", "")].update(actions)

    def track(self, module: Any, attribute: str, handler: str) -> None:
        real = getattr(module, attribute)

        def run(event: Any, context: Any) -> Any:
            self.local.handler = handler
            return real(event, context)
        self.monkeypatch.setattr(module, attribute, run)

    def watch(self, agent: Any) -> None:
        """SSM is the local instance agent: note its operations too."""
        clients.override("ssm", RecordingAgent(agent, self.note))

    def assert_allowed(self, template: dict[str, Any], handlers: Any) -> set[str]:
        for handler in handlers:
            assert self.made[handler], f"the scenario never ran {handler}"
            needed = {a for a in self.made[handler] if a not in self.OPERATIONS_ONLY}
            missing = needed - allowed_actions(template, handler)
            assert not missing, f"{handler} calls what its role does not allow: {sorted(missing)}"
        return set().union(*self.made.values())


class RecordingAgent:
    """The local SSM agent, noting each operation as the IAM action of the calling handler."""

    def __init__(self, agent: Any, note: Any) -> None:
        self.agent, self.note = agent, note

    def __getattr__(self, name: str) -> Any:
        operation = "".join(part.capitalize() for part in name.split("_"))

        def call(**kwargs: Any) -> Any:
            self.note(f"ssm:{operation}")
            return getattr(self.agent, name)(**kwargs)
        return call


def test_every_call_the_termination_side_makes_is_in_its_role(
    guardrails: Guardrails, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import hashlib

    from guardrails.handlers import on_guard_event, termination
    from guardrails.routing import GUARD_HANDLER
    from guardrails.workflow.definition import TASK_HANDLERS
    from tests.events import protection_change, spot_warning

    g = guardrails
    calls = CallTracker(monkeypatch)
    for task, path in TASK_HANDLERS.items():
        calls.track(termination, task, path)
    calls.track(on_guard_event, "handler", GUARD_HANDLER)
    calls.track(on_state_change, "handler", ON_STATE_CHANGE_HANDLER)
    calls.track(api, "handler", API_HANDLER)
    trainer = g.launch("g5.xlarge")
    calls.watch(g.instance_agent(trainer))

    # Blocked, then uploaded, verified and terminated; a bypass; a spot warning; a hand edit
    g.state_change(trainer, "running", T0)
    body = {"pid": 7, "command": "train", "total_epochs": 2}
    _, live = g.api("POST", f"/instances/{trainer}/runs", body, caller=trainer, at=T0)
    run = live["run"]["run_id"]
    path = tmp_path / "e1.pt"
    path.write_bytes(b"weights")
    g.api("POST", f"/instances/{trainer}/runs/{run}/checkpoints",
          {"path": str(path), "epoch": 1, "bytes": 7,
           "sha256": hashlib.sha256(b"weights").hexdigest()}, caller=trainer)
    g.guard_event(spot_warning(trainer, T0), T0)
    g.guard_event(protection_change(trainer, T0, disabled=True), T0)
    g.terminate(trainer, at=T0)  # blocked by the live run
    g.api("POST", f"/instances/{trainer}/runs/{run}/finish", {"status": "finished"},
          caller=trainer)
    assert g.terminate(trainer, at=T0, upload_checkpoints=True)[0] == 200
    lost = g.launch("g5.xlarge")
    g.state_change(lost, "running", T0)
    g.api("POST", f"/instances/{lost}/runs", body, caller=lost, at=T0)
    g.state_change(lost, "terminated", T0 + timedelta(hours=1))
    with_failure = g.launch("g5.xlarge")
    g.instance_agent(with_failure, failing={"SendCommand"})
    _, failing = g.api("POST", f"/instances/{with_failure}/runs", body, caller=with_failure,
                       at=T0)
    failing_run = failing["run"]["run_id"]
    g.api("POST", f"/instances/{with_failure}/runs/{failing_run}/checkpoints",
          {"path": "/data/e1.pt", "epoch": 1, "bytes": 1, "sha256": "b" * 64},
          caller=with_failure)
    g.api("POST", f"/instances/{with_failure}/runs/{failing_run}/finish",
          {"status": "finished"}, caller=with_failure)
    assert g.terminate(with_failure, at=T0, upload_checkpoints=True)[0] == 502

    everything = calls.assert_allowed(synth(tmp_path)[1].to_json(), (
        *TASK_HANDLERS.values(), GUARD_HANDLER, ON_STATE_CHANGE_HANDLER, API_HANDLER))
    for reached in ("ec2:TerminateInstances", "states:StartExecution",
                    "states:DescribeExecution", "s3:HeadObject", "ssm:SendCommand",
                    "ssm:GetCommandInvocation", "dynamodb:Query", "sns:Publish"):
        assert reached in everything, reached


def test_every_call_enforcement_makes_is_in_its_role(
    guardrails: Guardrails, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from guardrails import constants as c

    g = guardrails
    for name, value in {c.ENV_STOP_AT_HOURS: "2", c.ENV_ENFORCEMENT_DRY_RUN: "false"}.items():
        monkeypatch.setenv(name, value)
    on_state_change.services.cache_clear()
    sweep.services.cache_clear()
    calls = CallTracker(monkeypatch)
    calls.track(on_state_change, "handler", ON_STATE_CHANGE_HANDLER)
    calls.track(sweep, "handler", SWEEP_HANDLER)
    calls.track(api, "handler", API_HANDLER)
    idle, busy, stuck = (g.launch("g5.xlarge", tags={c.TAG_IDLE_STOP_MINUTES: "30"})
                         for _ in range(3))
    calls.watch(g.instance_agent(busy, stuck, send_signal=lambda pid, sig: None))
    for iid in (idle, busy, stuck):
        g.state_change(iid, "running", T0)
    body = {"pid": 7, "command": "train", "total_epochs": 2}
    _, live = g.api("POST", f"/instances/{busy}/runs", body, caller=busy, at=T0)
    g.api("POST", f"/instances/{stuck}/runs", body, caller=stuck, at=T0)
    g.api("POST", f"/instances/{idle}/snooze", {"hours": 1, "reason": "perm test"}, at=T0)
    g.fire_schedules(until=T0 + timedelta(hours=2, minutes=16))
    run_id = live["run"]["run_id"]
    status, _ = g.api("POST", f"/instances/{busy}/runs/{run_id}/checkpoints",
                      {"path": "/c", "epoch": 1, "bytes": 1, "sha256": "a" * 64,
                       "s3_uri": f"s3://{BUCKET}/{busy}/{run_id}/c"},
                      caller=busy, at=T0 + timedelta(hours=2, minutes=20))
    assert status == 201
    g.fire_schedules(until=T0 + timedelta(hours=3))
    g.run_sweep(T0 + timedelta(hours=3))
    assert g.ec2_state(busy) != "running" and g.ec2_state(stuck) == "running"
    everything = calls.assert_allowed(synth(tmp_path)[1].to_json(), (
        ON_STATE_CHANGE_HANDLER, SWEEP_HANDLER, API_HANDLER))
    for reached in ("ec2:StopInstances", "ssm:SendCommand", "dynamodb:GetItem",
                    "cloudwatch:GetMetricStatistics", "cloudwatch:ListMetrics"):
        assert reached in everything, reached
