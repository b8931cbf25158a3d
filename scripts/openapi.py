"""Write docs/openapi.json from the API code (`make openapi`). A test fails when it is stale."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lambdas"))

from guardrails.api.app import openapi_json  # noqa: E402

TARGET = ROOT / "docs" / "openapi.json"


def rendered() -> str:
    return json.dumps(json.loads(openapi_json()), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    TARGET.write_text(rendered())
    print(f"wrote {TARGET.relative_to(ROOT)}")
