"""The whole product on one machine: the emulator (a moto server on 127.0.0.1), the stack's
resources on it, and the real handlers wired from guardrails.routing, driven by a local
clock. One port serves both the emulator's AWS APIs and the guardrails API."""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import sys
import threading
import urllib.request
from contextlib import ExitStack
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

import boto3
from moto.server import ThreadedMotoServer
from moto.sts.models import sts_backends

from guardrails.adapters import clients, clock
from guardrails.routing import DEFAULT_SWEEP_RATE_MINUTES, SWEEP_HANDLER
from local import resources
from local.alerts import AlertSink
from local.clock import LocalClock
from local.ec2_events import Ec2EventSource, event_time
from local.emulator_clock import on_guardrails_clock
from local.event_bus import create_rules, put_on_bus, take_events
from local.gateway import Gateway, Identity
from local.instance_agent import LocalInstanceAgent
from local.lambda_runtime import (
    EMULATOR_CONFIG,
    LocalContext,
    LocalLambdas,
    metrics_off,
    resolve,
    workflow_handlers,
)
from local.schedules import PeriodicSweep, due_schedules, take

# The operator's credentials in local mode (any IAM caller that is not an instance).
OPERATOR_KEY = "AKIALOCALOPERATOR000"
OPERATOR_SECRET = "local-operator-secret"
OPERATOR_ARN = f"arn:aws:sts::{resources.ACCOUNT}:assumed-role/local-operator/operator"
TICK_SECONDS = 0.25
FUNCTION_ARN_PREFIX = f"arn:aws:lambda:{resources.REGION}:{resources.ACCOUNT}:function:guardrails-"
# What the sweep's EventBridge schedule sends (the handler reads only its detail-type).
SCHEDULED_SWEEP: dict[str, Any] = {"detail-type": "Scheduled Event", "source": "aws.events"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PricingOffline:
    """The Pricing API is not emulated: prices come from the bundled table."""

    def get_products(self, **_: Any) -> dict[str, Any]:
        from botocore.exceptions import EndpointConnectionError

        raise EndpointConnectionError(endpoint_url="https://api.pricing.us-east-1.amazonaws.com")


def resolve_identity(access_key: str) -> Identity | None:
    """SigV4 identity as IAM gives it: the emulator's assumed-role sessions (an instance is a
    session named after it), and the local operator."""
    if access_key == OPERATOR_KEY:
        return OPERATOR_SECRET, None, OPERATOR_ARN
    role = sts_backends[resources.ACCOUNT]["aws"].get_assumed_role_from_access_key(access_key)
    return (role.secret_access_key, role.session_token, role.arn) if role else None


class LocalStack:
    def __init__(self, port: int = 8787, speed: float = 1.0,
                 alerts_path: Path = Path("local-alerts.jsonl"), out: TextIO = sys.stdout,
                 sweep_minutes: int = DEFAULT_SWEEP_RATE_MINUTES,
                 environment: dict[str, str] | None = None) -> None:
        """`environment`: function settings beyond the stack's (ENFORCEMENT_DRY_RUN=false)."""
        self.port, self.out, self.alerts_path = port, out, alerts_path
        self.settings = dict(environment or {})
        self.clock = LocalClock(speed)
        self.sweep = PeriodicSweep(timedelta(minutes=sweep_minutes), self.clock.start)
        self._exit = ExitStack()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one event at a time per handler, as Lambda does
        self.errors: list[str] = []

    # ---- start and stop ---------------------------------------------------------------------
    def start(self) -> LocalStack:
        # The console shows alerts; the emulator's request log and the handlers' info logs
        # would drown them (errors still show).
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # moto's state machine interpreter logs, as errors, the paths an `IsPresent: false`
        # rule finds absent. Workflow failures reach the user as the execution's outcome.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
        os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "TrainingGuardrailsLocal")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        moto_port = free_port()
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
        self.moto.start()
        self._exit.callback(self.moto.stop)
        self.moto_url = f"http://127.0.0.1:{moto_port}"
        _post_json(f"{self.moto_url}/moto-api/config", EMULATOR_CONFIG)
        os.environ.update({
            "MOTO_PORT": str(moto_port), "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ACCESS_KEY_ID": OPERATOR_KEY, "AWS_SECRET_ACCESS_KEY": OPERATOR_SECRET,
            "AWS_DEFAULT_REGION": resources.REGION, "AWS_REGION": resources.REGION})
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        clients.reset()
        made = resources.create(self.aws)
        os.environ.update({**made.environment, **self.settings})
        clock.now = self.clock.now  # every handler reads this clock
        self._exit.enter_context(metrics_off())
        self._exit.enter_context(on_guardrails_clock())  # and so do EC2's timestamps
        handlers = {**workflow_handlers(), "guardrails-sweep": SWEEP_HANDLER}
        self._exit.enter_context(LocalLambdas(handlers).installed())
        clients.override("ssm", LocalInstanceAgent(self.aws("s3")))
        clients.override("pricing", PricingOffline())
        from guardrails.handlers import api

        self.gateway = Gateway(api.handler, resolve_identity, lock=self._lock).start()
        self._exit.callback(self.gateway.stop)
        self.events = Ec2EventSource(self.aws("ec2"), lambda: clock.now())  # the tick's time
        self._sqs = self.aws("sqs")
        self._bus = self.aws("events")
        self._rule_queues = create_rules(self._bus, self._sqs)
        self.alerts = AlertSink(self._sqs, made.alerts_queue_url, self.alerts_path,
                                self.out)
        self.front = _front_server(self.port, self.gateway.url, self.moto_url)
        self._exit.callback(self.front.server_close)
        self._exit.callback(self.front.shutdown)
        threading.Thread(target=self.front.serve_forever, daemon=True).start()
        self.port = int(self.front.server_address[1])
        self._loop = threading.Thread(target=self._run, daemon=True)
        self._loop.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if hasattr(self, "_loop"):
            self._loop.join(timeout=10)
            self.alerts.drain()  # what was published before Ctrl-C is still shown and kept
        self._exit.close()

    def aws(self, service: str) -> Any:
        session: Any = boto3.session.Session(aws_access_key_id=OPERATOR_KEY,
                                             aws_secret_access_key=OPERATOR_SECRET,
                                             region_name=resources.REGION)
        return session.client(service, endpoint_url=self.moto_url)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- the event loop ---------------------------------------------------------------------
    def _run(self) -> None:
        scheduler = self.aws("scheduler")
        group = os.environ["SCHEDULE_GROUP"]
        while not self._stop.wait(TICK_SECONDS):
            try:
                self._tick(scheduler, group)
                self.alerts.drain()
            except Exception as error:  # keep serving; say what failed
                self.errors.append(f"{type(error).__name__}: {error}")
                print(f"guardrails local: {type(error).__name__}: {error}", file=sys.stderr)

    def _tick(self, scheduler: Any, group: str) -> None:
        """Everything whose time has come, in time order, each as of its own time: EC2's
        state changes and the events the rules matched, the one-time schedules, then the
        periodic sweep.

        The clock stands at the tick's time until the tick ends, so nothing (EC2 included)
        gets ahead of it: at a high --speed a tick lasts simulated minutes, and a sweep that
        saw an instance launched after its own time would account for it wrongly."""
        now = self.clock.now()
        clock.now = lambda: now
        try:
            put_on_bus(self._bus, self.events.poll())
            events = sorted([(min(event_time(e), now), handler, e)
                             for handler, e in take_events(self._sqs, self._rule_queues)],
                            key=lambda item: item[0])
            sweep_due = self.sweep.came_due(now)
            while True:
                # Listed again after each firing: a firing may schedule the next.
                schedules = due_schedules(scheduler, group, now)
                if events and (not schedules or events[0][0] <= schedules[0][0]):
                    self._at(*events.pop(0), tick=now)
                elif schedules:
                    when, name = schedules[0]
                    self._at(when, SWEEP_HANDLER, take(scheduler, group, name), tick=now)
                else:
                    break
            if sweep_due:
                self._at(now, SWEEP_HANDLER, SCHEDULED_SWEEP, tick=now)
        finally:
            clock.now = self.clock.now

    def _at(self, when: datetime, handler: str, event: dict[str, Any], tick: datetime) -> None:
        """Run a handler as of `when`, as EventBridge and Scheduler deliver it, however late
        this loop noticed it."""
        function = handler.split(".")[-2].replace("_", "-")
        with self._lock:
            clock.now = lambda: when
            try:
                resolve(handler)(event, LocalContext(function, f"{FUNCTION_ARN_PREFIX}{function}"))
            finally:
                clock.now = lambda: tick


def _post_json(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):
        pass


def _front_server(port: int, api_url: str, moto_url: str) -> ThreadingHTTPServer:
    """One port for everything: requests signed for execute-api (or for the API's paths) go
    to the guardrails API, the rest to the emulator."""
    targets = {"api": api_url.removeprefix("http://"), "aws": moto_url.removeprefix("http://")}

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            auth = self.headers.get("Authorization", "")
            to_api = "/execute-api/" in auth or (not auth and self.path.startswith("/instances"))
            connection = http.client.HTTPConnection(targets["api" if to_api else "aws"],
                                                    timeout=60)
            headers = {k: v for k, v in self.headers.items()}
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            connection.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward

        def log_message(self, *_: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Proxy)
