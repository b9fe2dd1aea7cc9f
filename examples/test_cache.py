"""The quote cache: correctness, and that a worker's memory stops rising once it is full."""

from __future__ import annotations

import random

import pytest
from shop.cache import PricingBackend, QuoteService

CATALOGUE = 2_000_000  # SKUs in the catalogue
BESTSELLERS = 256  # SKUs on the front page and in every recommendation box
BESTSELLER_SHARE = 0.65  # share of lookups that go to the bestsellers
CACHE_SIZE = 2_048  # quotes kept per worker
LOOKUPS_PER_CALL = 6_000  # one call = a burst of listing-page traffic


class Traffic:
    """SKUs in the order shoppers look at them: a few bestsellers and a long tail.

    65% of lookups go to 256 bestsellers, which therefore never leave the cache; the rest
    are spread over two million SKUs and are rarely seen twice, so each burst brings about
    2 100 SKUs the cache has not seen and pushes as many old ones out. Seeded, so that
    every isolated run sees the same stream.
    """

    def __init__(self, seed: int = 11) -> None:
        self._rng = random.Random(seed)

    def next_burst(self, size: int = LOOKUPS_PER_CALL) -> list[str]:
        draw, pick = self._rng.random, self._rng.randrange
        return [
            f"SKU-{pick(BESTSELLERS) if draw() < BESTSELLER_SHARE else pick(BESTSELLERS, CATALOGUE):07d}"
            for _ in range(size)
        ]


@pytest.fixture
def quote_service() -> QuoteService:
    """A fresh worker: empty cache, as after a deploy."""
    return QuoteService(PricingBackend(), cache_size=CACHE_SIZE)


@pytest.fixture
def traffic() -> Traffic:
    return Traffic()


@pytest.mark.memload(iterations=50, warmup=10)
def test_quote_cache_memory(quote_service: QuoteService, traffic: Traffic) -> None:
    """One call = one burst of lookups; the cache is measured once it is full.

    The 2 048 entries are full after the first burst and the cache's hash table has
    settled after the second. warmup=10 leaves a wide margin, so that the measured calls
    see the steady state: a full cache that evicts as much as it adds. Memory still
    rising there is a leak; memory rising while a cache fills up is not.
    """
    assert quote_service.basket_total_cents(traffic.next_burst()) > 0


def test_quotes_are_cached() -> None:
    backend = PricingBackend()
    service = QuoteService(backend, cache_size=4)
    first = service.quote("SKU-000042")
    assert service.quote("SKU-000042") is first
    assert backend.calls == 1
    assert first.bulk_price_cents <= first.unit_price_cents


def test_hot_skus_are_mostly_served_from_the_cache(quote_service: QuoteService, traffic: Traffic) -> None:
    for _ in range(10):
        quote_service.basket_total_cents(traffic.next_burst())
    stats = quote_service.cache_stats()
    assert stats.hits / (stats.hits + stats.misses) > 0.5
