"""``POST /orders/batch``: a partner uploads a day's orders as one JSON document.

The handler parses the body, validates every order, aggregates what finance needs
(revenue per currency, best-selling SKUs, distinct customers) and answers with a small
JSON summary plus the list of rejected orders. Bodies of several megabytes are normal,
so the interesting memory figure is the heap peak while the parsed document is alive;
nothing may outlive the request.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_BODY_BYTES = 64 * 1024 * 1024
CURRENCIES = frozenset({"EUR", "USD", "GBP", "CHF"})
STATUSES = frozenset({"paid", "pending", "refunded"})
TOP_SKUS = 10


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass(slots=True)
class BatchTotals:
    """Running aggregates; only counters, never references to the parsed orders."""

    accepted: int = 0
    items: int = 0
    revenue_cents: Counter[str] = field(default_factory=Counter)
    sku_revenue_cents: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    customers: set[str] = field(default_factory=set)


def handle_order_batch(body: bytes) -> Response:
    """Validate and summarise one batch; a malformed body is a 4xx, never an exception."""
    if len(body) > MAX_BODY_BYTES:
        return _error(413, f"body is {len(body)} bytes, the limit is {MAX_BODY_BYTES}")
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _error(400, f"body is not valid JSON: {exc}")
    orders = document.get("orders") if isinstance(document, dict) else None
    if not isinstance(orders, list):
        return _error(422, "expected an object with an 'orders' list")

    totals = BatchTotals()
    rejected: list[dict[str, Any]] = []
    for index, order in enumerate(orders):
        problem = validate_order(order)
        if problem is None:
            _add(totals, order)
        else:
            rejected.append({"index": index, "id": _order_id(order), "error": problem})
    return Response(200, json.dumps(_summary(totals, rejected), separators=(",", ":")).encode())


def validate_order(order: object) -> str | None:
    """The first problem with ``order``, or ``None`` when it can be booked."""
    if not isinstance(order, dict):
        return "order is not an object"
    if not isinstance(order.get("id"), str) or not order["id"]:
        return "id must be a non-empty string"
    if not isinstance(order.get("customer_id"), str):
        return "customer_id must be a string"
    if order.get("currency") not in CURRENCIES:
        return f"currency must be one of {', '.join(sorted(CURRENCIES))}"
    if order.get("status") not in STATUSES:
        return f"status must be one of {', '.join(sorted(STATUSES))}"
    items = order.get("items")
    if not isinstance(items, list) or not items:
        return "items must be a non-empty list"
    for position, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("sku"), str):
            return f"items[{position}].sku must be a string"
        quantity, price = item.get("quantity"), item.get("unit_price_cents")
        if type(quantity) is not int or quantity < 1:
            return f"items[{position}].quantity must be a positive integer"
        if type(price) is not int or price < 0:
            return f"items[{position}].unit_price_cents must be a non-negative integer"
    return None


def _add(totals: BatchTotals, order: dict[str, Any]) -> None:
    totals.accepted += 1
    totals.by_status[order["status"]] += 1
    totals.customers.add(order["customer_id"])
    if order["status"] == "refunded":
        return
    currency = order["currency"]
    for item in order["items"]:
        amount = item["quantity"] * item["unit_price_cents"]
        totals.items += item["quantity"]
        totals.revenue_cents[currency] += amount
        totals.sku_revenue_cents[item["sku"]] += amount


def _summary(totals: BatchTotals, rejected: list[dict[str, Any]]) -> dict[str, Any]:
    top = heapq.nlargest(TOP_SKUS, totals.sku_revenue_cents.items(), key=lambda pair: pair[1])
    return {
        "accepted": totals.accepted,
        "rejected": rejected,
        "items": totals.items,
        "customers": len(totals.customers),
        "orders_by_status": dict(sorted(totals.by_status.items())),
        "revenue_cents": dict(sorted(totals.revenue_cents.items())),
        "top_skus": [{"sku": sku, "revenue_cents": cents} for sku, cents in top],
    }


def _order_id(order: object) -> object:
    return order.get("id") if isinstance(order, dict) else None


def _error(status: int, message: str) -> Response:
    return Response(status, json.dumps({"error": message}).encode())
