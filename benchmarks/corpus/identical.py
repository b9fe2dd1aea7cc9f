"""Benign: the same code on both sides (a JSON order-lookup handler).

Any verdict other than pass is a false alarm caused by noise alone.
"""

from __future__ import annotations

import json

from . import Pair, Unit

ORDERS = 400


class OrderApi:
    def __init__(self) -> None:
        self._orders = {
            f"ord-{i:05d}": {
                "id": f"ord-{i:05d}",
                "status": ("paid", "packed", "shipped")[i % 3],
                "lines": [{"sku": f"SKU-{(i + k) % 700:04d}", "qty": k + 1} for k in range(4)],
            }
            for i in range(ORDERS)
        }
        self._requests = [
            json.dumps({"ids": [f"ord-{(j * 13 + k) % ORDERS:05d}" for k in range(25)]}) for j in range(80)
        ]

    def __call__(self) -> int:
        size = 0
        for raw in self._requests:
            request = json.loads(raw)
            found = [self._orders[order_id] for order_id in request["ids"] if order_id in self._orders]
            response = {"count": len(found), "orders": found}
            size += len(json.dumps(response).encode())
        return size


def before() -> Unit:
    return OrderApi()


PAIR = Pair(
    name="identical",
    kind="benign",
    expected=("pass",),
    reason=None,
    summary="order lookup handler, same code before and after",
    before=before,
    after=before,
    iterations=50,
    warmup=10,
)
