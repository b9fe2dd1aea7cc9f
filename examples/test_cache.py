"""The quote cache: correctness, and that a worker's memory stops rising once it is full."""

from __future__ import annotations

import random

import pytest

from shop.cache import PricingBackend, QuoteService

CATALOGUE = 500_000  # SKUs in the catalogue
CACHE_SIZE = 16_384  # quotes kept per worker
LOOKUPS_PER_CALL = 5_000  # one call = a burst of listing-page traffic


class Traffic:
    """SKUs as shoppers look at them: log-uniform popularity, a few hot and a long tail.

    Seeded, so that every isolated run sees the same stream. About 60% of lookups hit
    the hot SKUs; the rest are mostly SKUs not seen before. 5 000 lookups per call fill a
    16 384-entry cache after about 8 calls, so the scenario needs more warm-up than that:
    with too little, the gate would (rightly) see the filling cache as growth.
    """

    def __init__(self, seed: int = 11) -> None:
        self._rng = random.Random(seed)

    def next_burst(self, size: int = LOOKUPS_PER_CALL) -> list[str]:
        draw = self._rng.random
        return [f"SKU-{int(CATALOGUE ** draw()):06d}" for _ in range(size)]


@pytest.fixture
def quote_service() -> QuoteService:
    """A fresh worker: empty cache, as after a deploy."""
    return QuoteService(PricingBackend(), cache_size=CACHE_SIZE)


@pytest.fixture
def traffic() -> Traffic:
    return Traffic()


@pytest.mark.memload(iterations=50, warmup=20)
def test_quote_cache_memory(quote_service: QuoteService, traffic: Traffic) -> None:
    """One call = one burst of lookups. warmup=20 lets the cache fill (about 8 calls) first."""
    assert quote_service.basket_total_cents(traffic.next_burst()) > 0


def test_quotes_are_cached() -> None:
    backend = PricingBackend()
    service = QuoteService(backend, cache_size=4)
    first = service.quote("SKU-000042")
    assert service.quote("SKU-000042") is first
    assert backend.calls == 1
    assert first.tier_prices_cents[0] <= first.unit_price_cents


def test_hot_skus_are_mostly_served_from_the_cache(quote_service: QuoteService, traffic: Traffic) -> None:
    for _ in range(10):
        quote_service.basket_total_cents(traffic.next_burst())
    stats = quote_service.cache_stats()
    assert stats.hits / (stats.hits + stats.misses) > 0.5
