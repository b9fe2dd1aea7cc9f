"""The order-batch endpoint: correctness, and its memory under a production-sized body."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from shop.api import handle_order_batch

ORDERS = 5_000
INVALID_EVERY = 97  # partners do send broken records; about 1% of a batch


def make_order(rng: random.Random, number: int) -> dict[str, Any]:
    order: dict[str, Any] = {
        "id": f"ORD-{number:08d}",
        "customer_id": f"CUST-{rng.randrange(40_000):06d}",
        "created_at": f"2024-03-{1 + number % 28:02d}T{number % 24:02d}:{number % 60:02d}:00Z",
        "currency": rng.choice(("EUR", "EUR", "EUR", "USD", "GBP", "CHF")),
        "status": rng.choice(("paid", "paid", "paid", "pending", "refunded")),
        "shipping": {"country": rng.choice(("DE", "FR", "NL", "AT", "GB")), "method": "standard"},
        "items": [
            {
                "sku": f"SKU-{rng.randrange(25_000):06d}",
                "quantity": rng.randint(1, 5),
                "unit_price_cents": rng.randint(199, 49_999),
            }
            for _ in range(rng.randint(1, 6))
        ],
    }
    if number % INVALID_EVERY == 0:
        order["items"][0]["quantity"] = 0
    return order


@pytest.fixture(scope="module")
def order_batch_body() -> bytes:
    """About 2 MB of JSON: 5 000 orders, as a partner uploads them at the end of a day."""
    rng = random.Random(20240301)
    return json.dumps({"orders": [make_order(rng, n) for n in range(1, ORDERS + 1)]}).encode()


@pytest.mark.memload(iterations=40, warmup=5, max_peak="64 MiB")
def test_order_batch_memory(order_batch_body: bytes) -> None:
    """One call = one request. The parsed body must be gone when the response is sent."""
    response = handle_order_batch(order_batch_body)
    assert response.status == 200


def test_order_batch_summary(order_batch_body: bytes) -> None:
    summary = json.loads(handle_order_batch(order_batch_body).body)
    invalid = ORDERS // INVALID_EVERY
    assert summary["accepted"] == ORDERS - invalid
    assert len(summary["rejected"]) == invalid
    assert summary["rejected"][0] == {
        "index": INVALID_EVERY - 1,
        "id": f"ORD-{INVALID_EVERY:08d}",
        "error": "items[0].quantity must be a positive integer",
    }
    assert set(summary["revenue_cents"]) == {"EUR", "USD", "GBP", "CHF"}
    assert len(summary["top_skus"]) == 10


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[]", 422),
        (b'{"orders": {}}', 422),
        (b"\x80 not UTF-8", 400),
    ],
)
def test_bad_bodies_are_client_errors(body: bytes, status: int) -> None:
    assert handle_order_batch(body).status == status
