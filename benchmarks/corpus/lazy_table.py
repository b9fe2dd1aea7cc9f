"""Benign: a lookup table moves from start-up to the first call.

A slug generator folds accented characters through a translation table. ``before``
builds the table when the service starts (in the fixture); ``after`` builds it lazily on
the first call. With ``warmup=0`` the first measured call builds it, so the heap floor
steps up once and then stays flat: a one-time cost, not growth. The table (about
140 KiB) is under the 256 KiB peak threshold.
"""

from __future__ import annotations

import unicodedata

from . import Pair, Unit

TITLES = 2_000


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x00C0, 0x10000):
        char = chr(code)
        folded = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        if folded and folded != char:
            table[code] = folded.lower()
    return table


class Slugger:
    def __init__(self, eager: bool) -> None:
        self._table: dict[int, str] | None = _build_table() if eager else None
        self._titles = [f"Crème brûlée №{i} à la façon de Łódź – Ærøskøbing" for i in range(TITLES)]

    def _fold(self, text: str) -> str:
        if self._table is None:
            self._table = _build_table()
        return text.translate(self._table)

    def __call__(self) -> int:
        slugs = ["-".join(self._fold(title).lower().split()) for title in self._titles]
        return len("\n".join(slugs))


def before() -> Unit:
    return Slugger(eager=True)


def after() -> Unit:
    return Slugger(eager=False)


PAIR = Pair(
    name="lazy_table",
    kind="benign",
    expected=("pass",),
    reason=None,
    summary="translation table built on first call instead of at start-up (warmup=0)",
    before=before,
    after=after,
    iterations=50,
    warmup=0,
)
