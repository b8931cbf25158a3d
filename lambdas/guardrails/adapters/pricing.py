"""Price per hour of an instance, from three sources in order.

1. The cache in the table (fresh for PRICE_CACHE_TTL_HOURS).
2. The Pricing API for on-demand, or spot price history in the instance's AZ for spot.
3. The bundled on-demand table (bundled_prices.json, which states its date and source). For a
   spot instance it is an upper bound, which warns early rather than never.
Otherwise the price is unknown, and unknown is never $0.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from guardrails.adapters.clients import PRICING_REGION, client
from guardrails.adapters.table import InstanceTable
from guardrails.constants import PRICE_CACHE_TTL_HOURS, SERVICE_NAME
from guardrails.domain.instance import SPOT, InstanceFacts

logger = Logger(service=SERVICE_NAME, child=True)

SOURCE_PRICING_API = "pricing-api"
SOURCE_SPOT_HISTORY = "spot-price-history"
SOURCE_BUNDLED = "bundled"
SOURCE_UNKNOWN = "unknown"
# os.path, not pathlib: pathlib costs ~15 ms of cold start and nothing else here needs it.
BUNDLED_FILE = os.path.join(os.path.dirname(__file__), "bundled_prices.json")
CACHE_TTL = timedelta(hours=PRICE_CACHE_TTL_HOURS)

# Linux, shared tenancy, no pre-installed software, capacity in use, plain on-demand (the
# `marketoption` filter leaves out Capacity Blocks), as the Pricing API docs describe.
_ON_DEMAND_FILTERS = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "licenseModel": "No License required",
    "marketoption": "OnDemand",
}


@dataclass(frozen=True)
class Price:
    usd_per_hour: Decimal | None
    source: str


class PriceBook:
    def __init__(self, table: InstanceTable) -> None:
        self.table = table

    def price(self, facts: InstanceFacts, now: datetime) -> Price:
        key = (facts.region, facts.instance_type, facts.lifecycle)
        cached = self.table.get_price(*key)
        if cached is not None and now - cached.fetched_at < CACHE_TTL:
            return Price(cached.usd_per_hour, cached.source)
        live = self._live(facts, now)
        if live is not None:
            value, source = live
            self.table.put_price(*key, value, source, now, CACHE_TTL)
            return Price(value, source)
        bundled = bundled_price(facts.region, facts.instance_type)
        if bundled is not None:
            suffix = " (on-demand, upper bound for spot)" if facts.lifecycle == SPOT else ""
            return Price(bundled, f"{SOURCE_BUNDLED} {bundled_as_of()}{suffix}")
        return Price(None, SOURCE_UNKNOWN)

    def _live(self, facts: InstanceFacts, now: datetime) -> tuple[Decimal, str] | None:
        try:
            if facts.lifecycle == SPOT:
                value = spot_price(facts, now)
                source = SOURCE_SPOT_HISTORY
            else:
                value = on_demand_price(facts.region, facts.instance_type)
                source = SOURCE_PRICING_API
        except (ClientError, BotoCoreError, ValueError, KeyError, InvalidOperation) as error:
            logger.warning("live price lookup failed; falling back",
                           instance_type=facts.instance_type, region=facts.region,
                           lifecycle=facts.lifecycle, error=str(error))
            return None
        return None if value is None else (value, source)


def on_demand_price(region: str, instance_type: str) -> Decimal | None:
    filters = [{"Type": "TERM_MATCH", "Field": "instanceType", "Value": instance_type},
               {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}]
    filters += [{"Type": "TERM_MATCH", "Field": f, "Value": v}
                for f, v in _ON_DEMAND_FILTERS.items()]
    answer = client("pricing", PRICING_REGION).get_products(
        ServiceCode="AmazonEC2", Filters=filters, FormatVersion="aws_v1", MaxResults=10)
    prices = [p for doc in answer.get("PriceList", []) for p in _hourly_prices(doc)]
    # Several matches should not happen with these filters; if they do, assume the dearest.
    return max(prices) if prices else None


def _hourly_prices(document: str | dict[str, Any]) -> list[Decimal]:
    product = json.loads(document) if isinstance(document, str) else document
    if product.get("product", {}).get("attributes", {}).get("marketoption") == "CapacityBlock":
        return []
    found = []
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        for dimension in term.get("priceDimensions", {}).values():
            value = Decimal(dimension["pricePerUnit"]["USD"])
            if dimension.get("unit") == "Hrs" and value > 0:
                found.append(value)
    return found


def spot_price(facts: InstanceFacts, now: datetime) -> Decimal | None:
    answer = client("ec2").describe_spot_price_history(
        InstanceTypes=[facts.instance_type], ProductDescriptions=["Linux/UNIX"],
        AvailabilityZone=facts.availability_zone, StartTime=now, MaxResults=10)
    history = sorted((h for h in answer.get("SpotPriceHistory", [])
                      if h.get("AvailabilityZone") == facts.availability_zone),
                     key=lambda h: h["Timestamp"])
    return Decimal(history[-1]["SpotPrice"]) if history else None


@cache
def _bundled() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_read(BUNDLED_FILE), parse_float=Decimal)
    return data


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read()


def bundled_price(region: str, instance_type: str) -> Decimal | None:
    value = _bundled()["prices"].get(region, {}).get(instance_type)
    return None if value is None else Decimal(value)


def bundled_as_of() -> str:
    return str(_bundled()["as_of"])
