"""``GET /prices/summary``: an async handler that reads a partner's price feed and answers
with per-symbol statistics.

The feed arrives in chunks from an upstream client; the handler keeps running totals per
symbol and never the rows themselves, so its memory stays flat however long the feed is.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(slots=True)
class SymbolStats:
    count: int = 0
    low_cents: int = 1 << 62
    high_cents: int = 0
    total_cents: int = 0


async def price_feed(rows: int, chunk_rows: int = 500) -> AsyncIterator[list[dict[str, object]]]:
    """The upstream: chunks of parsed rows, yielding to the event loop between them."""
    for start in range(0, rows, chunk_rows):
        await asyncio.sleep(0)
        yield [
            {"symbol": f"SYM{(start + i) % 400:03d}", "price_cents": 10_000 + (start + i) * 7 % 5_000}
            for i in range(min(chunk_rows, rows - start))
        ]


async def handle_price_summary(rows: int) -> bytes:
    stats: dict[str, SymbolStats] = {}
    async for chunk in price_feed(rows):
        for row in chunk:
            entry = stats.setdefault(str(row["symbol"]), SymbolStats())
            price = int(str(row["price_cents"]))
            entry.count += 1
            entry.low_cents = min(entry.low_cents, price)
            entry.high_cents = max(entry.high_cents, price)
            entry.total_cents += price
    summary = {
        symbol: {"count": s.count, "low": s.low_cents, "high": s.high_cents, "mean": s.total_cents // s.count}
        for symbol, s in sorted(stats.items())
    }
    return json.dumps(summary).encode()
