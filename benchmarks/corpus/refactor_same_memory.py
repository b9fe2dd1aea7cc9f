"""Benign: a refactor that keeps the same data structures.

An invoice builder is split from one long function into small helpers with early
returns. It materialises exactly the same lists, dicts and strings, so memory must
compare equal.
"""

from __future__ import annotations

from . import Pair

LINES = 5_000
TAX_RATES = {"food": 7, "books": 7, "general": 19}


def _catalogue() -> list[tuple[str, str, int]]:
    kinds = tuple(TAX_RATES)
    return [(f"SKU-{i:05d}", kinds[i % 3], 99 + (i * 37) % 5000) for i in range(LINES)]


class InvoiceBefore:
    def __init__(self) -> None:
        self._items = _catalogue()

    def __call__(self) -> int:
        rows = []
        totals: dict[str, int] = {}
        for sku, kind, cents in self._items:
            qty = 1 + len(sku) % 3
            net = qty * cents
            tax = net * TAX_RATES[kind] // 100
            rows.append({"sku": sku, "qty": qty, "net": net, "tax": tax, "text": f"{sku} x{qty}"})
            totals[kind] = totals.get(kind, 0) + net + tax
        lines = [f"{r['text']:<20}{r['net']:>10}{r['tax']:>8}" for r in rows]
        document = "\n".join(lines) + "\n" + repr(sorted(totals.items()))
        return len(document)


def _row(sku: str, kind: str, cents: int) -> dict[str, object]:
    qty = 1 + len(sku) % 3
    net = qty * cents
    return {"sku": sku, "qty": qty, "net": net, "tax": net * TAX_RATES[kind] // 100, "text": f"{sku} x{qty}"}


def _render(row: dict[str, object]) -> str:
    return f"{row['text']:<20}{row['net']:>10}{row['tax']:>8}"


class InvoiceAfter:
    def __init__(self) -> None:
        self._items = _catalogue()

    def _totals(self, rows: list[dict[str, object]]) -> dict[str, int]:
        totals: dict[str, int] = {}
        for (_, kind, _), row in zip(self._items, rows):
            totals[kind] = totals.get(kind, 0) + int(row["net"]) + int(row["tax"])  # type: ignore[call-overload]
        return totals

    def __call__(self) -> int:
        rows = [_row(*item) for item in self._items]
        totals = self._totals(rows)
        lines = [_render(r) for r in rows]
        document = "\n".join(lines) + "\n" + repr(sorted(totals.items()))
        return len(document)


PAIR = Pair(
    name="refactor_same_memory",
    kind="benign",
    expected=("pass",),
    reason=None,
    summary="invoice builder split into helpers, same structures",
    before=InvoiceBefore,
    after=InvoiceAfter,
    iterations=50,
    warmup=10,
)
