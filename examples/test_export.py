"""The CSV export: correctness, and that a month of order lines streams in bounded memory."""

from __future__ import annotations

import csv
import io
import random

import pytest
from shop.export import HEADER, CountingSink, OrderLine, export_order_lines

ROWS = 60_000


def make_lines(count: int, seed: int = 7) -> list[OrderLine]:
    rng = random.Random(seed)
    lines = []
    for n in range(count):
        quantity, price = rng.randint(1, 5), rng.randint(199, 49_999)
        lines.append(
            OrderLine(
                order_id=100_000 + n // 3,
                created_at=f"2024-03-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00Z",
                customer_id=f"CUST-{rng.randrange(40_000):06d}",
                sku=f"SKU-{rng.randrange(25_000):06d}",
                quantity=quantity,
                unit_price_cents=price,
                total_cents=quantity * price,
                currency="EUR",
            )
        )
    return lines


@pytest.fixture(scope="module")
def month_of_lines() -> list[OrderLine]:
    """60 000 order lines (about 4 MB of CSV), standing in for a database cursor."""
    return make_lines(ROWS)


@pytest.mark.memload(iterations=50, warmup=5, max_peak="64 MiB")
def test_export_memory(month_of_lines: list[OrderLine]) -> None:
    """One call = one export. Streaming keeps the peak at about one chunk of rows."""
    sink = CountingSink()
    assert export_order_lines(month_of_lines, sink) == ROWS
    assert sink.bytes_written > 0


class KeepingSink:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self.parts.append(data)
        return len(data)


def test_export_round_trips() -> None:
    lines = make_lines(4_321)
    sink = KeepingSink()
    assert export_order_lines(lines, sink, chunk_rows=1000) == len(lines)
    rows = list(csv.reader(io.StringIO(b"".join(sink.parts).decode("utf-8"))))
    assert tuple(rows[0]) == HEADER
    assert len(rows) == len(lines) + 1
    assert rows[1] == [str(field) for field in lines[0]]
    assert rows[-1] == [str(field) for field in lines[-1]]


def test_empty_export_still_has_a_header() -> None:
    sink = KeepingSink()
    assert export_order_lines([], sink) == 0
    assert b"".join(sink.parts) == (",".join(HEADER) + "\n").encode()
