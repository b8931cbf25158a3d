"""Where a price comes from: cache, then the Pricing API or spot history, then the bundled table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from guardrails.adapters import clients, pricing
from guardrails.adapters.pricing import bundled_as_of, bundled_price
from tests.integration.conftest import TABLE, Guardrails

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
API_PRICE = "32.7726000000"


def price_list(usd: str, market: str = "OnDemand") -> str:
    return json.dumps({
        "product": {"attributes": {"instanceType": "p4d.24xlarge", "marketoption": market}},
        "terms": {"OnDemand": {"SKU.TERM": {"priceDimensions": {"SKU.TERM.DIM": {
            "unit": "Hrs", "pricePerUnit": {"USD": usd}}}}}},
    })


def expected_request(instance_type: str = "p4d.24xlarge") -> dict[str, Any]:
    fields = {
        "instanceType": instance_type, "regionCode": "us-east-1", "operatingSystem": "Linux",
        "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used",
        "licenseModel": "No License required", "marketoption": "OnDemand",
    }
    return {"ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1", "MaxResults": 10,
            "Filters": [{"Type": "TERM_MATCH", "Field": f, "Value": v}
                        for f, v in fields.items()]}


@pytest.fixture
def pricing_api(guardrails: Guardrails) -> Any:
    api = boto3.client("pricing", region_name="us-east-1")
    with Stubber(api) as stubber:
        clients.override("pricing", api)
        yield stubber


def rate_of(g: Guardrails, instance_id: str) -> tuple[Decimal | None, str]:
    running = [t for t in g.record(instance_id)["transitions"] if t["state"] == "running"][-1]
    rate = running.get("rate")
    return (None if rate is None else Decimal(rate)), running["price_source"]


def test_the_pricing_api_price_is_used_and_cached(guardrails: Guardrails, pricing_api: Any) -> None:
    g = guardrails
    # Given the Pricing API answers once, to the filtered request the Pricing docs describe
    pricing_api.add_response("get_products", {"PriceList": [price_list(API_PRICE)]},
                             expected_request())
    first, second = g.launch(), g.launch()
    # When two p4d instances start
    g.state_change(first, "running", T0)
    g.state_change(second, "running", T0 + timedelta(minutes=5))
    # Then both are priced from the API, the second from the table cache (one API call)
    pricing_api.assert_no_pending_responses()
    assert rate_of(g, first) == (Decimal(API_PRICE), "pricing-api")
    assert rate_of(g, second) == (Decimal(API_PRICE), "pricing-api")
    cached = g.ddb.get_item(TableName=TABLE, Key={
        "pk": {"S": "PRICE#us-east-1#p4d.24xlarge#on-demand"}, "sk": {"S": "PRICE"}})["Item"]
    assert Decimal(cached["usd_per_hour"]["N"]) == Decimal(API_PRICE)
    assert int(cached["expires_at"]["N"]) == int((T0 + timedelta(hours=24)).timestamp())


def test_a_cached_price_older_than_a_day_is_fetched_again(
    guardrails: Guardrails, pricing_api: Any
) -> None:
    g = guardrails
    pricing_api.add_response("get_products", {"PriceList": [price_list("30.0")]},
                             expected_request())
    pricing_api.add_response("get_products", {"PriceList": [price_list("31.0")]},
                             expected_request())
    first, second = g.launch(), g.launch()
    g.state_change(first, "running", T0)
    g.state_change(second, "running", T0 + timedelta(hours=25))
    pricing_api.assert_no_pending_responses()
    assert rate_of(g, second) == (Decimal("31.0"), "pricing-api")


def test_pricing_api_errors_fall_back_to_the_bundled_table(
    guardrails: Guardrails, pricing_api: Any
) -> None:
    g = guardrails
    # Given the Pricing API is throttling, then answers with nothing usable
    pricing_api.add_client_error("get_products", "ThrottlingException", "Rate exceeded")
    pricing_api.add_response("get_products", {"PriceList": []}, expected_request())
    throttled, empty = g.launch(), g.launch()
    g.state_change(throttled, "running", T0)
    g.state_change(empty, "running", T0)
    # Then the bundled table prices both, and says so with its date
    bundled = (bundled_price("us-east-1", "p4d.24xlarge"), f"bundled {bundled_as_of()}")
    assert rate_of(g, throttled) == bundled
    assert rate_of(g, empty) == bundled
    # And a fallback price is not cached, so the next start asks the API again
    assert [i for i in g.items() if i["pk"]["S"].startswith("PRICE#")] == []


def test_capacity_block_offers_are_never_taken_as_the_on_demand_price(
    guardrails: Guardrails, pricing_api: Any
) -> None:
    g = guardrails
    pricing_api.add_response("get_products", {"PriceList": [
        price_list("12.0", market="CapacityBlock"), price_list(API_PRICE)]}, expected_request())
    iid = g.launch()
    g.state_change(iid, "running", T0)
    assert rate_of(g, iid) == (Decimal(API_PRICE), "pricing-api")


def test_a_spot_instance_is_priced_from_spot_history_in_its_zone(guardrails: Guardrails) -> None:
    g = guardrails
    iid = g.launch("p4d.24xlarge", spot=True)
    g.state_change(iid, "running", T0)
    rate, source = rate_of(g, iid)
    assert source == "spot-price-history"
    history = g.ec2.describe_spot_price_history(
        InstanceTypes=["p4d.24xlarge"], AvailabilityZone="us-east-1a",
        ProductDescriptions=["Linux/UNIX"])["SpotPriceHistory"]
    assert rate == Decimal(next(h for h in history if h["AvailabilityZone"] == "us-east-1a")[
        "SpotPrice"])
    assert g.pricing.calls == []  # spot never asks the on-demand Pricing API


def test_spot_without_history_falls_back_to_the_on_demand_price_as_an_upper_bound(
    guardrails: Guardrails, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = guardrails

    def denied(*_: Any) -> None:
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}},
                          "DescribeSpotPriceHistory")

    monkeypatch.setattr(pricing, "spot_price", denied)
    iid = g.launch("p4d.24xlarge", spot=True)
    g.state_change(iid, "running", T0)
    rate, source = rate_of(g, iid)
    assert rate == bundled_price("us-east-1", "p4d.24xlarge")
    assert "upper bound for spot" in source
    # And the rate warning still fires: an upper bound warns early rather than never
    assert [a.rule for a in g.alerts_for(iid)] == ["rate"]
