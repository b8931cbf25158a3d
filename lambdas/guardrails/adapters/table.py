"""The DynamoDB table: instance records, alert claims and the price cache."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from guardrails.adapters.clients import client
from guardrails.constants import (
    ALERT_SK_PREFIX,
    INSTANCE_PREFIX,
    META_SK,
    PK,
    PRICE_PREFIX,
    PRICE_SK,
    SK,
    TAG_PREFIX,
    TTL_ATTRIBUTE,
)
from guardrails.domain.instance import InstanceFacts, InstanceRecord
from guardrails.domain.ledger import Ledger, Transition

BATCH_GET_LIMIT = 100
_ALERTED_PREFIX = "alerted_"
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def instance_key(instance_id: str) -> dict[str, Any]:
    return {PK: {"S": f"{INSTANCE_PREFIX}{instance_id}"}, SK: {"S": META_SK}}


def _alerted_attr(rule: str) -> str:
    return _ALERTED_PREFIX + rule.replace("-", "_")


class CachedPrice:
    def __init__(self, usd_per_hour: Decimal, source: str, fetched_at: datetime) -> None:
        self.usd_per_hour = usd_per_hour
        self.source = source
        self.fetched_at = fetched_at


class TableClient:
    """One table, through the shared DynamoDB client (created on first use)."""

    def __init__(self, table_name: str) -> None:
        self.name = table_name

    @property
    def _ddb(self) -> Any:
        return client("dynamodb")

    def _put_if_absent(self, item: dict[str, Any]) -> bool:
        """Put the item unless its key exists. Only the first of concurrent callers wins."""
        try:
            self._ddb.put_item(TableName=self.name, Item=item,
                               ConditionExpression=f"attribute_not_exists({PK})")
        except ClientError as error:
            if condition_failed(error):
                return False
            raise
        return True


class InstanceTable(TableClient):

    # ---- instance records -------------------------------------------------------------
    def get_record(self, instance_id: str) -> InstanceRecord | None:
        answer = self._ddb.get_item(
            TableName=self.name, Key=instance_key(instance_id), ConsistentRead=True
        )
        item = answer.get("Item")
        return record_from_item(_plain(item)) if item else None

    def batch_get_records(self, instance_ids: Iterable[str]) -> dict[str, InstanceRecord]:
        """META items of many instances, BATCH_GET_LIMIT keys per BatchGetItem call."""
        ids = list(dict.fromkeys(instance_ids))
        found: dict[str, InstanceRecord] = {}
        for start in range(0, len(ids), BATCH_GET_LIMIT):
            keys = [instance_key(i) for i in ids[start:start + BATCH_GET_LIMIT]]
            request: dict[str, Any] = {self.name: {"Keys": keys, "ConsistentRead": True}}
            for attempt in range(8):
                answer = self._ddb.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.name, []):
                    record = record_from_item(_plain(item))
                    found[record.instance_id] = record
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            if request:
                raise RuntimeError(f"DynamoDB left {len(request[self.name]['Keys'])} keys unread")
        return found

    def save_record(self, record: InstanceRecord) -> bool:
        """Write facts and ledger if nobody else wrote since `record` was read. False on a race."""
        values = {k: v for k, v in record_to_item(record).items() if k not in (PK, SK)}
        names = {f"#a{i}": k for i, k in enumerate(values)}
        sets = ", ".join(f"#a{i} = :a{i}" for i in range(len(values)))
        attr_values = {f":a{i}": _serializer.serialize(v) for i, v in enumerate(values.values())}
        if record.version == 0:
            condition = f"attribute_not_exists({PK})"
        else:
            condition = "#version = :expected"
            names["#version"] = "version"
            attr_values[":expected"] = {"N": str(record.version)}
        try:
            self._ddb.update_item(
                TableName=self.name,
                Key=instance_key(record.instance_id),
                UpdateExpression=f"SET {sets}",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attr_values,
            )
        except ClientError as error:
            if condition_failed(error):
                return False
            raise
        return True

    # ---- alert deduplication ----------------------------------------------------------
    def claim_alert(self, instance_id: str, rule: str, level: Decimal, at: datetime,
                    body: Mapping[str, Any]) -> bool:
        """Record that this crossing is being alerted. Only the first claimer gets True."""
        return self._put_if_absent({
            **_level_key(instance_id, rule, level),
            "claimed_at": {"S": at.isoformat()},
            "rule": {"S": rule},
            "level": {"N": level_text(level)},
            "published": {"BOOL": False},
            "alert": _serializer.serialize(_dynamo_safe(dict(body))),
        })

    def confirm_alert(self, instance_id: str, rule: str, level: Decimal) -> None:
        """The message is out: from now on a concurrent evaluator may count it as sent."""
        self._ddb.update_item(TableName=self.name, Key=_level_key(instance_id, rule, level),
                              UpdateExpression="SET published = :yes",
                              ExpressionAttributeValues={":yes": {"BOOL": True}})

    def alert_published(self, instance_id: str, rule: str, level: Decimal) -> bool:
        answer = self._ddb.get_item(TableName=self.name, Key=_level_key(instance_id, rule, level),
                                    ConsistentRead=True)
        return bool(answer.get("Item", {}).get("published", {}).get("BOOL"))

    def release_alert(self, instance_id: str, rule: str, level: Decimal) -> None:
        """Undo a claim whose message could not be sent, so a retry sends it."""
        self._ddb.delete_item(TableName=self.name, Key=_level_key(instance_id, rule, level))

    def mark_alerted(self, instance_id: str, rule: str, level: Decimal) -> None:
        """Remember the highest level sent per rule on META, so a steady sweep needs no writes."""
        try:
            self._ddb.update_item(
                TableName=self.name,
                Key=instance_key(instance_id),
                UpdateExpression="SET #r = :level",
                ConditionExpression=f"attribute_exists({PK}) AND "
                "(attribute_not_exists(#r) OR #r < :level)",
                ExpressionAttributeNames={"#r": _alerted_attr(rule)},
                ExpressionAttributeValues={":level": {"N": level_text(level)}},
            )
        except ClientError as error:
            if not condition_failed(error):
                raise

    # ---- price cache ------------------------------------------------------------------
    def get_price(self, region: str, instance_type: str, lifecycle: str) -> CachedPrice | None:
        answer = self._ddb.get_item(TableName=self.name, Key=_price_key(
            region, instance_type, lifecycle))
        item = answer.get("Item")
        if not item:
            return None
        plain = _plain(item)
        return CachedPrice(Decimal(plain["usd_per_hour"]), str(plain["source"]),
                           datetime.fromisoformat(str(plain["fetched_at"])))

    def put_price(self, region: str, instance_type: str, lifecycle: str, usd_per_hour: Decimal,
                  source: str, fetched_at: datetime, ttl: timedelta) -> None:
        item = {
            **_price_key(region, instance_type, lifecycle),
            "usd_per_hour": {"N": str(usd_per_hour)},
            "source": {"S": source},
            "fetched_at": {"S": fetched_at.isoformat()},
            TTL_ATTRIBUTE: {"N": str(int((fetched_at + ttl).timestamp()))},
        }
        self._ddb.put_item(TableName=self.name, Item=item)


def level_text(level: Decimal) -> str:
    """A level as DynamoDB and the alert's sort key write it: '10', not '1E+1'."""
    return format(level.normalize(), "f")


def _level_key(instance_id: str, rule: str, level: Decimal) -> dict[str, Any]:
    return alert_key(instance_id, rule, level_text(level))


def alert_key(instance_id: str, rule: str, key: str) -> dict[str, Any]:
    """ALERT#<rule>#<key>: the level reached, or for a stale run its run id."""
    return {PK: {"S": f"{INSTANCE_PREFIX}{instance_id}"},
            SK: {"S": f"{ALERT_SK_PREFIX}{rule}#{key}"}}


def _price_key(region: str, instance_type: str, lifecycle: str) -> dict[str, Any]:
    return {PK: {"S": f"{PRICE_PREFIX}{region}#{instance_type}#{lifecycle}"},
            SK: {"S": PRICE_SK}}


def condition_failed(error: ClientError) -> bool:
    """A conditional write lost: someone else wrote first (or the condition never held)."""
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def _dynamo_safe(value: Any) -> Any:
    """Floats become Decimals; DynamoDB's serializer refuses floats."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _dynamo_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dynamo_safe(v) for v in value]
    return value


# ---- item <-> domain ------------------------------------------------------------------
def record_to_item(record: InstanceRecord) -> dict[str, Any]:
    facts, ledger = record.facts, record.ledger
    return {
        PK: f"{INSTANCE_PREFIX}{facts.instance_id}",
        SK: META_SK,
        "instance_id": facts.instance_id,
        "instance_type": facts.instance_type,
        "lifecycle": facts.lifecycle,
        "availability_zone": facts.availability_zone,
        "region": facts.region,
        "tags": {k: v for k, v in facts.tags.items() if k.startswith(TAG_PREFIX) or k == "Name"},
        "state": ledger.state,
        "state_since": _iso(ledger.state_since),
        "transitions": [_transition_to_item(t) for t in ledger.transitions],
        "folded_seconds": ledger.folded_seconds,
        "folded_cost": ledger.folded_cost,
        "folded_until": _iso(ledger.folded_until),
        "version": record.version + 1,
    }


def record_from_item(item: Mapping[str, Any]) -> InstanceRecord:
    facts = InstanceFacts(
        instance_id=str(item["instance_id"]),
        instance_type=str(item["instance_type"]),
        lifecycle=str(item["lifecycle"]),
        availability_zone=str(item["availability_zone"]),
        region=str(item["region"]),
        tags={str(k): str(v) for k, v in (item.get("tags") or {}).items()},
    )
    folded_cost = item.get("folded_cost")
    ledger = Ledger(
        transitions=tuple(_transition_from_item(t) for t in item.get("transitions") or []),
        folded_seconds=Decimal(item.get("folded_seconds") or 0),
        folded_cost=None if folded_cost is None else Decimal(folded_cost),
        folded_until=_from_iso(item.get("folded_until")),
    )
    alerted = {k[len(_ALERTED_PREFIX):].replace("_", "-"): Decimal(v)
               for k, v in item.items() if k.startswith(_ALERTED_PREFIX)}
    return InstanceRecord(facts, ledger, alerted, int(item.get("version") or 0))


def _transition_to_item(t: Transition) -> dict[str, Any]:
    item: dict[str, Any] = {"at": t.at.isoformat(), "state": t.state}
    if t.rate is not None:
        item["rate"] = t.rate
    if t.price_source is not None:
        item["price_source"] = t.price_source
    return item


def _transition_from_item(item: Mapping[str, Any]) -> Transition:
    rate = item.get("rate")
    return Transition(
        at=datetime.fromisoformat(str(item["at"])),
        state=str(item["state"]),
        rate=None if rate is None else Decimal(rate),
        price_source=None if item.get("price_source") is None else str(item["price_source"]),
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _from_iso(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))
