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
        number = float(value)
        unit = ""
    elif isinstance(value, str):
        match = _SIZE_RE.match(value)
        if not match:
            raise ValueError(
                f"{value!r} is not a size; use a number of bytes or a number with a unit "
                "such as '512 KiB', '256MiB', '1.5 GB'"
            )
        number = float(match.group(1))
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
    return round(number * _UNITS[unit])


def format_size(n_bytes: float, *, signed: bool = False) -> str:
    """Readable size with three significant digits, e.g. ``12.3 MiB``."""
    sign = ""
    if n_bytes < 0:
        sign = "-"
    elif signed:
        sign = "+"
    value = abs(float(n_bytes))
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            if unit == "B":
                text = f"{value:.0f} B"
            elif value >= 100:
                text = f"{value:.0f} {unit}"
            elif value >= 10:
                text = f"{value:.1f} {unit}"
            else:
                text = f"{value:.2f} {unit}"
            return sign + text
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_percent(ratio: float) -> str:
    """Relative change from a ratio: 1.052 -> '+5.2%'."""
    return f"{(ratio - 1) * 100:+.1f}%"
