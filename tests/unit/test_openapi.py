"""docs/openapi.json is generated from the code, and must match it."""

from __future__ import annotations

import json

from guardrails.routing import API_ROUTES
from scripts.openapi import TARGET, rendered


def test_docs_openapi_json_is_up_to_date() -> None:
    assert TARGET.read_text() == rendered(), "docs/openapi.json is stale: run `make openapi`"


def test_every_route_of_routing_is_in_the_spec() -> None:
    spec = json.loads(rendered())
    documented = {(method.upper(), path) for path, ops in spec["paths"].items()
                  for method in ops}
    assert documented == set(API_ROUTES.values())
