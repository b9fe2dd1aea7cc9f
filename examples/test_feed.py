"""The async price-summary handler: its answer, and its memory on a day's feed."""

from __future__ import annotations

import json

import pytest
from shop.feed import handle_price_summary

FEED_ROWS = 20_000


@pytest.mark.asyncio
@pytest.mark.memload(iterations=30, warmup=5)
async def test_price_summary_memory() -> None:
    """One call = one request over a 20 000-row feed, awaited on the child's event loop."""
    body = await handle_price_summary(FEED_ROWS)
    assert body.startswith(b"{")


@pytest.mark.asyncio
async def test_price_summary_answer() -> None:
    summary = json.loads(await handle_price_summary(FEED_ROWS))
    assert len(summary) == 400
    assert sum(s["count"] for s in summary.values()) == FEED_ROWS
    assert all(s["low"] <= s["mean"] <= s["high"] for s in summary.values())
