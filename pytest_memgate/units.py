"""Byte sizes in and out: one convention (IEC, 1 KiB = 1024 B) everywhere."""

from __future__ import annotations

import math
import re

_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1024**4,
}
_SIZE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: object) -> int:
    """Turn ``"256 MiB"``, ``"1.5KB"`` or ``4096`` into bytes.

    Raises ``ValueError`` with the accepted forms, so callers can add context
    (which test, which option) without re-wording the rule.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as '256 MiB' or 4096, got {value!r}")
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer past float range
            raise ValueError(f"{value!r} is more bytes than any machine has") from None
        unit = ""
    elif isinstance(value, str):
        match = _SIZE_RE.match(value)
        if not match:
            raise ValueError(
                f"{value!r} is not a size; use a number of bytes or a number with a unit "
                "such as '512 KiB', '256MiB', '1.5 GB'"
            )
        try:
            number = float(match.group(1))
        except OverflowError:  # pragma: no cover - float() of a decimal string gives inf instead
            raise ValueError(f"{value!r} is more bytes than any machine has") from None
        unit = match.group(2).lower()
    else:
        raise ValueError(f"expected a size such as '256 MiB' or 4096, got {value!r}")
    if unit not in _UNITS:
        raise ValueError(
            f"unknown unit {unit!r} in {value!r}; use B, KiB, MiB, GiB (1024-based) "
            "or KB, MB, GB (1000-based)"
        )
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"size must be a finite, non-negative number, got {value!r}")
    total = number * _UNITS[unit]
    if not math.isfinite(total) or total > 2**63 - 1:
        raise ValueError(f"{value!r} is more bytes than any machine has")
    return round(total)


_SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def _three_digits(value: float) -> str:
    """``value`` (0 <= value) with three significant digits, decided on the rounded figure:
    9.996 is ``10.0``, not ``10.00``; 99.96 is ``100``. Whole numbers up to 1023 keep all
    their digits (``1013``): a fourth digit is more honest than rounding to ``1010``."""
    for decimals in (2, 1):
        text = f"{value:.{decimals}f}"
        if float(text) < 10 ** (3 - decimals):
            return text
    return f"{value:.0f}"


def format_size(n_bytes: float, *, signed: bool = False) -> str:
    """Readable size with three significant digits, e.g. ``12.3 MiB``, ``+0 B``.

    The unit is chosen on the rounded figure, so that 1023.5 B reads ``1.00 KiB`` and never
    ``1024 B``. Whole bytes are exact (``1023 B``). What does not fit a number (an interval
    with no data) reads ``+inf``/``-inf``/``nan``.
    """
    value = float(n_bytes)
    if not math.isfinite(value):
        if math.isnan(value):
            return "nan"
        return "-inf" if value < 0 else ("+inf" if signed else "inf")
    magnitude = abs(value)
    for index, unit in enumerate(_SIZE_UNITS):
        text = f"{magnitude:.0f}" if unit == "B" else _three_digits(magnitude)
        if float(text) < 1024 or index == len(_SIZE_UNITS) - 1:
            break
        magnitude /= 1024
    # The sign follows the printed figure: -0.3 B is "0 B", not "-0 B".
    sign = "-" if value < 0 and float(text) > 0 else ("+" if signed else "")
    return f"{sign}{text} {unit}"


def format_percent(ratio: float) -> str:
    """Relative change from a ratio: 1.052 -> '+5.2%'."""
    return f"{(ratio - 1) * 100:+.1f}%"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 run``, ``2 runs``: a count people read without tripping on it."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
