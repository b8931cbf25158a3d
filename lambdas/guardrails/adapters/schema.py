"""The table's CreateTable request, for the emulator, the tests and the benchmarks.
(The stack declares the same keys and index in infra/table.py from the same constants.)"""

from __future__ import annotations

from typing import Any

from guardrails import constants as c


def create_table_request(name: str) -> dict[str, Any]:
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": c.PK, "KeyType": "HASH"},
                      {"AttributeName": c.SK, "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"}
                                 for a in (c.PK, c.SK, c.LIVE_INDEX_PK, c.LIVE_INDEX_SK)],
        "GlobalSecondaryIndexes": [{
            "IndexName": c.LIVE_INDEX,
            "KeySchema": [{"AttributeName": c.LIVE_INDEX_PK, "KeyType": "HASH"},
                          {"AttributeName": c.LIVE_INDEX_SK, "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"}}],
    }
