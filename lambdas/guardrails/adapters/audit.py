"""AUDIT#<time>#<execution> items in the instance's collection."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from guardrails.adapters.table import TableClient
from guardrails.constants import AUDIT_SK_PREFIX, INSTANCE_PREFIX, LOCK_SK, PK, SK
from guardrails.domain.audit import Audit


class RunStarted(Exception):
    """A run took the instance between the check and the termination."""


def audit_key(instance_id: str, audit_id: str) -> dict[str, Any]:
    return {PK: {"S": f"{INSTANCE_PREFIX}{instance_id}"},
            SK: {"S": f"{AUDIT_SK_PREFIX}{audit_id}"}}


class AuditLog(TableClient):
    def write(self, audit: Audit, *, only_if_no_live_run: bool = False) -> str:
        """Put the item. `only_if_no_live_run`: in one transaction with a check that the
        instance has no LOCK, so a run that started since the check stops the termination
        (RunStarted)."""
        item: dict[str, Any] = {
            **audit_key(audit.instance_id, audit.audit_id),
            "at": {"S": audit.at.isoformat()}, "execution": {"S": audit.execution},
            "caller": {"S": audit.caller}, "force": {"BOOL": audit.force},
            "decision": {"S": audit.decision}, "outcome": {"S": audit.outcome},
            "reasons": {"L": [{"S": r} for r in audit.reasons]},
            "overridden": {"L": [{"S": r} for r in audit.overridden]},
            "detail": {"S": audit.detail},
        }
        if audit.reason:
            item["reason"] = {"S": audit.reason}
        if not only_if_no_live_run:
            self._ddb.put_item(TableName=self.name, Item=item)
            return audit.audit_id
        try:
            self._ddb.transact_write_items(TransactItems=[
                {"ConditionCheck": {"TableName": self.name,
                                    "Key": {PK: item[PK], SK: {"S": LOCK_SK}},
                                    "ConditionExpression": f"attribute_not_exists({PK})"}},
                {"Put": {"TableName": self.name, "Item": item}},
            ])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise RunStarted(f"a run started on {audit.instance_id} since the check") from error
            raise
        return audit.audit_id

    def set_outcome(self, audit: Audit, outcome: str, detail: str) -> None:
        self._ddb.update_item(
            TableName=self.name, Key=audit_key(audit.instance_id, audit.audit_id),
            UpdateExpression="SET #o = :o, #d = :d",
            ExpressionAttributeNames={"#o": "outcome", "#d": "detail"},
            ExpressionAttributeValues={":o": {"S": outcome}, ":d": {"S": detail}})


def audit_from_item(instance_id: str, item: Mapping[str, Any]) -> Audit:
    return Audit(
        instance_id=instance_id, at=datetime.fromisoformat(str(item["at"])),
        execution=str(item["execution"]), caller=str(item["caller"]),
        force=bool(item["force"]), reason=item.get("reason"),
        decision=str(item["decision"]), outcome=str(item["outcome"]),
        reasons=tuple(str(r) for r in item.get("reasons", [])),
        overridden=tuple(str(r) for r in item.get("overridden", [])),
        detail=str(item.get("detail", "")))
