"""Price quotes behind a bounded LRU cache.

Computing a quote means a round trip to the pricing service (here: CPU work standing in
for it). Product views follow a long-tailed popularity curve, so a cache of the hottest
SKUs answers most lookups. The cache must be bounded: the catalogue's long tail keeps
bringing SKUs that were never seen before, and an unbounded cache keeps every one of
them for the life of the worker process.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from .regression import planted

DEFAULT_CACHE_SIZE = 8192


@dataclass(frozen=True, slots=True)
class Quote:
    sku: str
    currency: str
    unit_price_cents: int
    bulk_price_cents: int  # price per unit from 10 units on
    price_version: str


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int
    size: int
    max_size: int | None  # None: unbounded


class PricingBackend:
    """Stand-in for the remote pricing service: deterministic and deliberately slow."""

    ROUNDS = 40

    def __init__(self) -> None:
        self.calls = 0

    def quote(self, sku: str) -> Quote:
        self.calls += 1
        digest = sku.encode()
        for _ in range(self.ROUNDS):
            digest = hashlib.blake2b(digest, digest_size=16).digest()
        base = 199 + int.from_bytes(digest[:4], "big") % 50_000
        return Quote(
            sku=sku,
            currency="EUR",
            unit_price_cents=base,
            bulk_price_cents=base * 93 // 100,
            price_version=digest.hex(),
        )


class QuoteService:
    """Quotes for SKUs, served from an LRU cache of ``cache_size`` entries per process."""

    def __init__(self, backend: PricingBackend, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.backend = backend
        # One cache per service instance (not a module-level lru_cache), so that tests
        # and workers start empty; the planted regression drops the bound.
        maxsize = None if planted() == "leak" else cache_size
        self._cached_quote = functools.lru_cache(maxsize=maxsize)(backend.quote)

    def quote(self, sku: str) -> Quote:
        return self._cached_quote(sku)

    def basket_total_cents(self, skus: Iterable[str]) -> int:
        """What a product listing page does: price every SKU it shows."""
        return sum(self.quote(sku).unit_price_cents for sku in skus)

    def cache_stats(self) -> CacheStats:
        info = self._cached_quote.cache_info()
        return CacheStats(info.hits, info.misses, info.currsize, info.maxsize)
