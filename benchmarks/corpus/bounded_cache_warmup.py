"""Benign: a bounded quote cache is added and fills up during the measured calls.

A listing-page service prices each page's SKUs. ``after`` puts a 600-entry LRU in front
of the pricing computation. Each call brings 24 SKUs never seen before, so the cache
fills over the first 25 calls; the scenario's warm-up (5 calls) is deliberately shorter
than that, so the heap floor rises for the first ~20 measured calls and then stays flat.
That is warm-up of a bounded structure, not a leak. The cache holds well under 256 KiB,
against a page payload of several MiB, so the peak stays within tolerance.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import NamedTuple

from . import Pair, Unit

CACHE_SIZE = 600
NEW_SKUS_PER_CALL = 24
HOT_SKUS = 100
LOOKUPS_PER_CALL = 240


class Quote(NamedTuple):
    sku: str
    cents: int
    currency: str


def _price(sku: str) -> Quote:
    """The pricing rules: CPU work standing in for a pricing-service round trip."""
    digest = sku.encode()
    for _ in range(60):
        digest = hashlib.sha256(digest).digest()
    return Quote(sku, 100 + int.from_bytes(digest[:2], "little"), "EUR")


class ListingService:
    def __init__(self, cache_size: int | None) -> None:
        self._cache: OrderedDict[str, Quote] | None = OrderedDict() if cache_size else None
        self._cache_size = cache_size or 0
        self._call = 0

    def _quote(self, sku: str) -> Quote:
        if self._cache is None:
            return _price(sku)
        quote = self._cache.get(sku)
        if quote is not None:
            self._cache.move_to_end(sku)
            return quote
        quote = self._cache[sku] = _price(sku)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return quote

    def _skus(self) -> list[str]:
        fresh = [f"SKU-{self._call:04d}-{k:02d}" for k in range(NEW_SKUS_PER_CALL)]
        hot = [f"HOT-{(self._call * 7 + k) % HOT_SKUS:03d}" for k in range(LOOKUPS_PER_CALL - len(fresh))]
        return fresh + hot

    def __call__(self) -> int:
        self._call += 1
        quotes = [self._quote(sku) for sku in self._skus()]
        rows = "".join(f"<tr><td>{q.sku}</td><td>{q.cents / 100:.2f} {q.currency}</td></tr>" for q in quotes)
        page = (rows * 240).encode()  # the rendered listing with its images' markup: a few MiB
        return len(page)


def before() -> Unit:
    return ListingService(cache_size=None)


def after() -> Unit:
    return ListingService(cache_size=CACHE_SIZE)


PAIR = Pair(
    name="bounded_cache_warmup",
    kind="benign",
    expected=("pass", "improved"),
    reason=None,
    summary="bounded 600-entry LRU added; fills during measured calls (warmup 5 < 25 to fill)",
    before=before,
    after=after,
    iterations=50,
    warmup=5,
)
