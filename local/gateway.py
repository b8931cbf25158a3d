"""An API Gateway stand-in on 127.0.0.1: verifies SigV4 like IAM authorization does, turns
each request into a REST proxy event with the caller's identity, and calls the handler."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
# access key -> (secret key, session token or None, the caller's ARN)
Identity = tuple[str, str | None, str]
Resolver = Callable[[str], Identity | None]

_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
                   r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[^,]+), "
                   r"Signature=(?P<signature>[0-9a-f]+)")


class Unauthorized(Exception):
    pass


MAX_SKEW = timedelta(minutes=5)


def verify(method: str, url: str, headers: dict[str, str], body: bytes,
           resolve: Resolver, now: datetime | None = None) -> str:
    """The caller's ARN, if the request carries a valid SigV4 signature for execute-api,
    over this very body, made within MAX_SKEW of now; else Unauthorized."""
    auth = _AUTH.match(headers.get("authorization", ""))
    if not auth:
        raise Unauthorized("missing or malformed SigV4 Authorization header")
    if auth["service"] != "execute-api":
        raise Unauthorized(f"signed for {auth['service']}, not execute-api")
    try:
        signed_at = datetime.strptime(headers.get("x-amz-date", ""), "%Y%m%dT%H%M%SZ")
    except ValueError:
        raise Unauthorized("missing or malformed X-Amz-Date") from None
    if abs(signed_at.replace(tzinfo=UTC) - (now or datetime.now(UTC))) > MAX_SKEW:
        raise Unauthorized("the signature is too old or from the future (over 5 minutes)")
    claimed = headers.get("x-amz-content-sha256")
    if claimed is not None and claimed != hashlib.sha256(body).hexdigest():
        raise Unauthorized("the body does not match its signed hash")
    identity = resolve(auth["key"])
    if identity is None:
        raise Unauthorized(f"unknown access key {auth['key']}")
    secret, token, arn = identity
    signed = auth["signed"].split(";")
    request = AWSRequest(method=method, url=url, data=body,
                         headers={name: headers.get(name, "") for name in signed})
    request.context["timestamp"] = headers.get("x-amz-date", "")
    signer = SigV4Auth(Credentials(auth["key"], secret, token), auth["service"], auth["region"])
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, auth["signature"]):
        raise Unauthorized("the request signature does not match")
    return arn


def proxy_event(method: str, url: str, headers: dict[str, str], body: bytes,
                caller_arn: str) -> dict[str, Any]:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query)) or None
    session = caller_arn.rsplit("/", 1)[-1]
    return {
        "resource": "/{proxy+}", "path": parts.path, "httpMethod": method,
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": parts.path.lstrip("/")}, "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}", "httpMethod": method, "path": parts.path,
            "stage": "local", "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(datetime.now(UTC).timestamp() * 1000),
            "identity": {"userArn": caller_arn, "caller": session, "user": session,
                         "accessKey": None, "sourceIp": "127.0.0.1"},
        },
        "body": body.decode() if body else None, "isBase64Encoded": False,
    }


class LambdaContext:
    function_name = "api"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())


class Gateway:
    """Serve `handler` on 127.0.0.1:port (0 picks a free port) until `stop()`."""

    def __init__(self, handler: Handler, resolve: Resolver, port: int = 0,
                 lock: threading.Lock | None = None) -> None:
        """`lock`: held while the handler runs. Lambda gives a container one event at a time,
        and the resolver keeps per-request state; whoever else calls the handler in this
        process shares the lock."""
        gateway = self

        class Request(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                url = f"http://{headers.get('host', '127.0.0.1')}{self.path}"
                try:
                    arn = verify(self.command, url, headers, body, resolve)
                    event = proxy_event(self.command, url, headers, body, arn)
                except Unauthorized as refused:
                    self._reply(403, {"error": "forbidden", "message": str(refused),
                                      "hint": "sign the request with SigV4 credentials"})
                    return
                except UnicodeDecodeError:
                    self._reply(400, {"error": "bad_request", "message": "the body is not UTF-8",
                                      "hint": "send JSON"})
                    return
                try:
                    with gateway.lock:  # the resolver keeps per-request state
                        answer = handler(event, LambdaContext())
                except Exception as crash:  # as API Gateway does when a Lambda fails
                    self._reply(502, {"error": "bad_gateway", "message": str(crash),
                                      "hint": "see the handler's log"})
                    return
                self._reply(int(answer["statusCode"]), answer.get("body") or "")

            def _reply(self, status: int, body: Any) -> None:
                text = body if isinstance(body, str) else json.dumps(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(text.encode())))
                self.end_headers()
                self.wfile.write(text.encode())

            do_GET = do_POST = _serve

            def log_message(self, *_: Any) -> None:
                pass

        self.lock = lock or threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Request)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Gateway:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
