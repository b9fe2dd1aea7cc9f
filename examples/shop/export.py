"""Order-line export to CSV for the accounting system.

An export covers tens of thousands of rows and ends up in an HTTP response or an object
store upload. It is written in chunks of ``chunk_rows`` rows so that memory stays at one
chunk however large the export gets; building the whole file in memory first works in
development and then takes down a worker on the first big month.
"""

from __future__ import annotations

import csv
import io
import itertools
import zlib
from collections.abc import Iterable, Iterator
from typing import NamedTuple, Protocol

from .regression import planted

HEADER = (
    "order_id",
    "created_at",
    "customer_id",
    "sku",
    "quantity",
    "unit_price_cents",
    "total_cents",
    "currency",
)


class OrderLine(NamedTuple):
    """One row as the database cursor yields it, in export column order; money in cents."""

    order_id: int
    created_at: str
    customer_id: str
    sku: str
    quantity: int
    unit_price_cents: int
    total_cents: int
    currency: str


class Sink(Protocol):
    """Where the bytes go: a socket, a multipart upload, a file."""

    def write(self, data: bytes, /) -> int: ...


class CountingSink:
    """A sink that keeps only a byte count and a CRC32, as an upload would keep a checksum."""

    def __init__(self) -> None:
        self.bytes_written = 0
        self.writes = 0
        self.crc32 = 0

    def write(self, data: bytes, /) -> int:
        self.bytes_written += len(data)
        self.writes += 1
        self.crc32 = zlib.crc32(data, self.crc32)
        return len(data)


def export_order_lines(lines: Iterable[OrderLine], sink: Sink, *, chunk_rows: int = 2000) -> int:
    """Write ``lines`` as CSV (header first) to ``sink``; returns the number of data rows."""
    if planted() == "peak":
        return _export_buffered(lines, sink)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    rows = 0
    for chunk in _chunks(lines, chunk_rows):
        writer.writerows(chunk)
        rows += len(chunk)
        sink.write(buffer.getvalue().encode("utf-8"))
        buffer.seek(0)
        buffer.truncate()
    if rows == 0:
        sink.write(buffer.getvalue().encode("utf-8"))
    return rows


def _export_buffered(lines: Iterable[OrderLine], sink: Sink) -> int:
    """The planted regression: the whole file as one string, then as bytes, then one write."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    rows = 0
    for line in lines:
        writer.writerow(line)
        rows += 1
    sink.write(buffer.getvalue().encode("utf-8"))
    return rows


def _chunks(lines: Iterable[OrderLine], size: int) -> Iterator[list[OrderLine]]:
    iterator = iter(lines)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
