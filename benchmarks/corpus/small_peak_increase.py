"""Regression: a columnar export gains a column and its peak grows by about 6%.

A feature-store export copies a day's numeric columns out of the store, checksums them
and frames them into one payload. ``after`` exports one more column (a 32-bit "store
id"), which raises the peak by roughly 6% of about 19 MiB: small, but real.
"""

from __future__ import annotations

import struct
import zlib
from array import array

from . import Pair, Unit

ROWS = 100_000
FLOAT_COLUMNS = ("price", "cost", "margin", "discount", "tax", "weight", "volume", "score")


class ColumnStore:
    def __init__(self) -> None:
        self._floats = {
            name: array("d", (float(i % 997) * (k + 1) for i in range(ROWS)))
            for k, name in enumerate(FLOAT_COLUMNS)
        }
        self._store_id = array("i", (i % 1200 for i in range(ROWS)))

    def read(self, name: str) -> array:  # type: ignore[type-arg]
        source = self._store_id if name == "store_id" else self._floats[name]
        return array(source.typecode, source)  # a copy, as a read out of the store would be


class Exporter:
    def __init__(self, columns: tuple[str, ...]) -> None:
        self._store = ColumnStore()
        self._columns = columns

    def __call__(self) -> int:
        columns = {name: self._store.read(name) for name in self._columns}
        frames = []
        for name, column in columns.items():
            raw = column.tobytes()
            header = struct.pack("<16sII", name.encode(), len(raw), zlib.crc32(raw))
            frames.append(header + raw)
        payload = b"".join(frames)
        return len(payload)


def before() -> Unit:
    return Exporter(FLOAT_COLUMNS)


def after() -> Unit:
    return Exporter(("store_id", *FLOAT_COLUMNS))


PAIR = Pair(
    name="small_peak_increase",
    kind="regression",
    expected=("regression",),
    reason="peak",
    summary="columnar export: one more int32 column, heap peak +~6% of ~19 MiB",
    before=before,
    after=after,
    iterations=50,
    warmup=5,
    clear=False,
)
