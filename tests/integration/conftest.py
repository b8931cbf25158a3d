"""One moto account per test, and a driver that reads like the product's specification."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from guardrails import constants as c
from guardrails.adapters import clients, clock
from guardrails.adapters.schema import create_table_request
from guardrails.api import context as api_context
from guardrails.handlers import api, on_guard_event, on_state_change, sweep, termination
from local.gateway import Gateway
from local.instance_agent import LocalInstanceAgent
from local.lambda_runtime import EMULATOR_CONFIG, LocalLambdas, deploy_workflow, workflow_handlers
from tests.conftest import REGION
from tests.events import sample, state_change

ACCOUNT = "123456789012"
SWEEP_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:guardrails-sweep"
SCHEDULER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/guardrails-scheduler"
GROUP = "guardrails-test"
INSTANCE_ROLE = "guardrails-instance"
AMI = "ami-12c6146b"


@cache
def aws(service: str) -> Any:
    """A test-side client, made once per test process: moto intercepts every client's calls,
    and making one costs about 0.1 s."""
    return boto3.client(service, REGION)


@dataclass
class LambdaContext:
    function_name: str = "guardrails-sweep"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = SWEEP_ARN
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"


class PricingUnavailable:
    """The Pricing API as a port: unreachable unless a test hands it answers."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def get_products(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        from botocore.exceptions import EndpointConnectionError

        raise EndpointConnectionError(endpoint_url="https://api.pricing.us-east-1.amazonaws.com")


class NoManagedInstances:
    """SSM as a port: no instance has the SSM agent online (moto does not implement
    DescribeInstanceInformation)."""

    def describe_instance_information(self, **_: Any) -> dict[str, Any]:
        return {"InstanceInformationList": []}


@dataclass(frozen=True)
class Alert:
    subject: str
    body: dict[str, Any]
    attributes: dict[str, str]

    @property
    def rule(self) -> str:
        return str(self.body["rule"])


class Guardrails:
    """Drives the real handlers against moto, with the clock where the test says."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, queue_url: str) -> None:
        self.monkeypatch = monkeypatch
        self.queue_url = queue_url
        self.ec2 = aws("ec2")
        self.ddb = aws("dynamodb")
        self.scheduler = aws("scheduler")
        self.sqs = aws("sqs")
        self.s3 = aws("s3")
        # The API handler serves one request at a time, as a Lambda container does; a
        # gateway in the same test shares this lock.
        self.api_lock = threading.Lock()
        self._alerts: list[Alert] = []
        self.pricing = PricingUnavailable()
        clients.override("pricing", self.pricing)
        clients.override("ssm", NoManagedInstances())

    # ---- the world --------------------------------------------------------------------
    def launch(self, instance_type: str = "p4d.24xlarge", tags: dict[str, str] | None = None,
               spot: bool = False) -> str:
        extra: dict[str, Any] = {}
        if tags:
            extra["TagSpecifications"] = [{"ResourceType": "instance", "Tags": [
                {"Key": k, "Value": v} for k, v in tags.items()]}]
        if spot:
            extra["InstanceMarketOptions"] = {"MarketType": "spot"}
        answer = self.ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1,
                                        InstanceType=instance_type, **extra)
        return str(answer["Instances"][0]["InstanceId"])

    def stop_in_ec2(self, instance_id: str) -> None:
        self.ec2.stop_instances(InstanceIds=[instance_id])

    def start_in_ec2(self, instance_id: str) -> None:
        self.ec2.start_instances(InstanceIds=[instance_id])

    # ---- the product ------------------------------------------------------------------
    def at(self, when: datetime) -> None:
        self.monkeypatch.setattr(clock, "now", lambda: when)

    def state_change(self, instance_id: str, state: str, at: datetime) -> dict[str, Any]:
        return self.deliver(state_change(instance_id, state, at), at)

    def deliver(self, event: Any, at: datetime) -> dict[str, Any]:
        self.at(at)
        result: dict[str, Any] = on_state_change.handler(event, LambdaContext("on-state-change"))
        return result

    def run_sweep(self, at: datetime) -> dict[str, Any]:
        """The periodic sweep, fired by its EventBridge schedule at `at`."""
        self.at(at)
        event = sample("scheduled-event-doc.json")
        event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        result: dict[str, Any] = sweep.handler(event, LambdaContext())
        return result

    def schedules(self) -> dict[str, datetime]:
        """Pending one-time schedules: name -> when it fires."""
        found = {}
        for item in self.scheduler.list_schedules(GroupName=GROUP)["Schedules"]:
            detail = self.scheduler.get_schedule(Name=item["Name"], GroupName=GROUP)
            expression = detail["ScheduleExpression"]
            found[item["Name"]] = datetime.fromisoformat(expression[3:-1] + "+00:00")
        return found

    def fire_schedules(self, until: datetime) -> list[datetime]:
        """Do what EventBridge Scheduler does (moto never fires): invoke each due schedule's
        target with its input at its time, then delete it. Returns the firing times."""
        fired = []
        while True:
            due = sorted((when, name) for name, when in self.schedules().items() if when <= until)
            if not due:
                return fired
            when, name = due[0]
            detail = self.scheduler.get_schedule(Name=name, GroupName=GROUP)
            assert detail["Target"]["Arn"] == SWEEP_ARN
            assert detail["ActionAfterCompletion"] == "DELETE"
            self.scheduler.delete_schedule(Name=name, GroupName=GROUP)
            self.at(when)
            sweep.handler(json.loads(detail["Target"]["Input"]), LambdaContext())
            fired.append(when)

    def api(self, method: str, path: str, body: Any = None, *, caller: str | None = None,
            role: str | None = None, at: datetime | None = None) -> tuple[int, Any]:
        """Call the REST API as API Gateway would, SigV4-authorized as `caller`: an
        instance id (its instance-profile session) or any other session name."""
        if at is not None:
            self.at(at)
        event = sample("apigw-rest-proxy-iam.json")
        event.update(httpMethod=method, path=path, resource="/{proxy+}",
                     pathParameters={"proxy": path.lstrip("/")}, queryStringParameters=None,
                     multiValueQueryStringParameters=None)
        event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
        identity = event["requestContext"]["identity"]
        session = caller or "ml-engineer"
        role = role or (INSTANCE_ROLE if session.startswith("i-") else "Admin")
        identity["userArn"] = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"
        event["requestContext"].update(httpMethod=method, path=f"/prod{path}")
        with self.api_lock:
            answer = api.handler(event, LambdaContext("api"))
        return answer["statusCode"], json.loads(answer["body"]) if answer["body"] else None

    def instance_agent(self, *online: str, **options: Any) -> LocalInstanceAgent:
        """SSM answered as the agent on these instances would (the rest have none)."""
        agent = LocalInstanceAgent(self.s3, online=set(online), **options)
        clients.override("ssm", agent)
        return agent

    def deploy_workflow(self) -> None:
        """The state machine and its functions on moto (only the tests that terminate pay
        for it)."""
        if os.environ.get(c.ENV_STATE_MACHINE_ARN):
            return
        machine = deploy_workflow(aws("iam"), aws("lambda"),
                                  aws("stepfunctions"))
        self.monkeypatch.setenv(c.ENV_STATE_MACHINE_ARN, machine)
        api_context.settings.cache_clear()

    def terminate(self, instance_id: str, *, at: datetime, caller: str | None = None,
                  **body: Any) -> tuple[int, Any]:
        """POST /instances/{id}/terminate: the workflow runs on moto, its tasks here."""
        self.deploy_workflow()
        return self.api("POST", f"/instances/{instance_id}/terminate", body, caller=caller,
                        at=at)

    def ec2_state(self, instance_id: str) -> str:
        answer = self.ec2.describe_instances(InstanceIds=[instance_id])
        return str(answer["Reservations"][0]["Instances"][0]["State"]["Name"])

    def audits(self, instance_id: str) -> list[dict[str, Any]]:
        from guardrails.adapters.table import _plain

        answer = self.ddb.query(
            TableName=TABLE, KeyConditionExpression="pk = :pk AND begins_with(sk, :a)",
            ExpressionAttributeValues={":pk": {"S": f"INSTANCE#{instance_id}"},
                                       ":a": {"S": c.AUDIT_SK_PREFIX}})
        return [_plain(item) for item in answer["Items"]]

    def guard_event(self, event: Any, at: datetime) -> dict[str, Any]:
        self.at(at)
        result: dict[str, Any] = on_guard_event.handler(event, LambdaContext("guards"))
        return result

    # ---- what users see ---------------------------------------------------------------
    def alerts(self) -> list[Alert]:
        """Every alert published so far, in order."""
        while True:
            answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return list(self._alerts)
            for message in messages:
                envelope = json.loads(message["Body"])
                self._alerts.append(Alert(
                    subject=envelope.get("Subject", ""),
                    body=json.loads(envelope["Message"]),
                    attributes={k: v["Value"] for k, v in
                                envelope.get("MessageAttributes", {}).items()},
                ))
                self.sqs.delete_message(QueueUrl=self.queue_url,
                                        ReceiptHandle=message["ReceiptHandle"])

    def alerts_for(self, instance_id: str, rule: str | None = None) -> list[Alert]:
        return [a for a in self.alerts() if a.body["instance_id"] == instance_id
                and (rule is None or a.rule == rule)]

    def record(self, instance_id: str) -> dict[str, Any]:
        from guardrails.adapters.table import _plain, instance_key

        item = self.ddb.get_item(TableName=TABLE, Key=instance_key(instance_id)).get("Item")
        return _plain(item) if item else {}

    def items(self) -> list[dict[str, Any]]:
        return list(self.ddb.scan(TableName=TABLE)["Items"])


TABLE = "guardrails-test"
BUCKET = "guardrails-checkpoints-test"
WORKFLOW_ROLE = f"arn:aws:iam::{ACCOUNT}:role/guardrails-terminate"


def create_table(ddb: Any, name: str) -> None:
    ddb.create_table(**create_table_request(name))


@pytest.fixture
def guardrails(monkeypatch: pytest.MonkeyPatch) -> Iterator[Guardrails]:
    with mock_aws(config=EMULATOR_CONFIG), LocalLambdas(workflow_handlers()).installed():
        create_table(aws("dynamodb"), TABLE)
        aws("s3").create_bucket(Bucket=BUCKET)
        sns = aws("sns")
        topic = sns.create_topic(Name="guardrails-alerts")["TopicArn"]
        sqs = aws("sqs")
        queue_url = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        aws("scheduler").create_schedule_group(Name=GROUP)
        monkeypatch.delenv(c.ENV_STATE_MACHINE_ARN, raising=False)
        for name, value in {
            c.ENV_TABLE_NAME: TABLE,
            c.ENV_ALERTS_TOPIC_ARN: topic,
            c.ENV_SCHEDULE_GROUP: GROUP,
            c.ENV_SCHEDULER_ROLE_ARN: SCHEDULER_ROLE,
            c.ENV_SWEEP_FUNCTION_ARN: SWEEP_ARN,
            c.ENV_INSTANCE_ROLE_NAME: INSTANCE_ROLE,
            c.ENV_CHECKPOINT_BUCKET: BUCKET,
            c.ENV_UPLOAD_POLL_SECONDS: "0",
            c.ENV_UPLOAD_TIMEOUT_SECONDS: "60",
            c.ENV_TERMINATE_WAIT_SECONDS: "15",
            c.ENV_TRUSTED_ROLE_ARNS: WORKFLOW_ROLE,
        }.items():
            monkeypatch.setenv(name, value)
        caches = (on_state_change.services, sweep.services, api_context.settings,
                  termination.workflow, on_guard_event.services)
        for cached in caches:
            cached.cache_clear()
        yield Guardrails(monkeypatch, queue_url)
        for cached in caches:
            cached.cache_clear()


# ---- the training side over HTTP: the API on 127.0.0.1 behind a SigV4-checking gateway -------
ROOT = Path(__file__).resolve().parents[2]
T_START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def trainer(guardrails: Guardrails) -> str:
    iid = guardrails.launch("g5.xlarge")
    guardrails.state_change(iid, "running", T_START)
    return iid


@pytest.fixture
def gateway(guardrails: Guardrails, trainer: str) -> Iterator[Gateway]:
    """The API on 127.0.0.1; the test's credentials are the trainer's instance role."""
    arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/guardrails-instance/{trainer}"
    known = {os.environ["AWS_ACCESS_KEY_ID"]: (os.environ["AWS_SECRET_ACCESS_KEY"], None, arn)}
    served = Gateway(api.handler, known.get, lock=guardrails.api_lock).start()
    yield served
    served.stop()


def guardctl(gateway: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GUARDRAILS_API": gateway.url, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "training.guardctl", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


