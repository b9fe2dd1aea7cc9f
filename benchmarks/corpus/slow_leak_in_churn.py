"""Regression: a ~0.75 KiB/call leak hidden under heavy temporary allocation.

A nightly-report worker parses a JSON order feed, aggregates revenue per region and
keeps an audit entry per report. Each call allocates and frees a few MiB of dicts,
lists and strings. ``before`` keeps the last 16 audit entries in a ``deque``; ``after``
keeps them in a list that is never trimmed: about 760 B retained per call, against
megabytes of churn.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import MutableSequence

from . import Pair, Unit

ORDERS = 1_500


def _feed() -> str:
    orders = [
        {
            "id": f"ord-{i:06d}",
            "region": ("eu", "us", "apac", "latam")[i % 4],
            "lines": [
                {"sku": f"SKU-{(i * 31 + k) % 9973:05d}", "qty": 1 + k, "cents": 199 * (k + 1)}
                for k in range(3)
            ],
            "customer": {"id": i % 811, "tier": "gold" if i % 5 == 0 else "standard"},
        }
        for i in range(ORDERS)
    ]
    return json.dumps(orders)


class ReportWorker:
    def __init__(self, audit: MutableSequence[dict[str, object]]) -> None:
        self._feed = _feed()
        self._audit = audit
        self._run = 0

    def __call__(self) -> int:
        self._run += 1
        orders = json.loads(self._feed)
        revenue: dict[str, int] = {}
        skus: set[str] = set()
        for order in orders:
            total = sum(line["qty"] * line["cents"] for line in order["lines"])
            revenue[order["region"]] = revenue.get(order["region"], 0) + total
            skus.update(line["sku"] for line in order["lines"])
        summary = ", ".join(f"{region}={cents / 100:.2f}" for region, cents in sorted(revenue.items()))
        self._audit.append(
            {
                "run": self._run,
                "orders": len(orders),
                "distinct_skus": len(skus),
                "summary": (summary + " | ") * 8,  # about 900 characters of text
            }
        )
        return len(orders)


def before() -> Unit:
    return ReportWorker(deque(maxlen=16))


def after() -> Unit:
    return ReportWorker([])


PAIR = Pair(
    name="slow_leak_in_churn",
    kind="regression",
    expected=("regression",),
    reason="growth",
    summary="report worker: audit deque(maxlen=16) -> unbounded list (~0.75 KiB/call under MiBs of churn)",
    before=before,
    after=after,
    iterations=50,
    warmup=20,
    clear=False,
)
