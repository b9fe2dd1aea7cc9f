"""Checks for every value read from a file or a payload: of the right type, finite, in range.

One NaN in one baseline run once switched the growth comparison off, so that a leak
passed. The ``from_dict`` constructors check each field here, whichever way the data
came (a baseline, a report, an xdist payload, a measuring child's record), and a bad
value is an ``InvalidValue`` naming its key; the caller adds the file, the scenario and
the fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

# Bytes are counted in 64-bit integers by the kernel, memray and tracemalloc alike; a
# figure past this was not measured by anything, and its float would swamp the statistics.
MAX_BYTES = 2**63 - 1

MISSING: Any = object()  # a field without a default: absent is an error


class InvalidValue(ValueError):
    """A value that is not what its field holds; ``key`` is its path, e.g. ``runs[3].heap_growth``."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key} {problem}" if key else problem)
        self.key = key
        self.problem = problem

    def inside(self, prefix: str) -> InvalidValue:
        """The same problem, with the key's path seen from the enclosing object."""
        key = self.key if self.key.startswith("[") or not self.key else "." + self.key
        return InvalidValue(prefix + key, self.problem)

    def __repr__(self) -> str:
        # Callers put exceptions into messages with ``!r``; the message is the useful part.
        return str(self)


@contextmanager
def within(prefix: str) -> Iterator[None]:
    """Errors raised inside name their key from ``prefix`` on (``runs[2]`` + ``.peak``)."""
    try:
        yield
    except InvalidValue as exc:
        raise exc.inside(prefix) from None


def describe(value: object) -> str:
    """A short, safe description for a message: never a huge or deeply nested repr."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int):
        if abs(value) >= 10**30:
            return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37]) + "..."
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def shown(value: object) -> str:
    """A configuration value as the user wrote it (Python's repr) when short; else ``describe``."""
    if value is None or isinstance(value, (bool, float)):
        return repr(value)
    if isinstance(value, int) and abs(value) < 10**30:
        return repr(value)
    return describe(value)


def get(data: Mapping[str, Any], key: str, default: Any = MISSING) -> Any:
    if key in data:
        return data[key]
    if default is MISSING:
        raise InvalidValue(key, "is missing")
    return default


def as_object(value: object, key: str = "") -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidValue(key, f"is {describe(value)}, not an object")
    return value


def as_list(value: object, key: str, *, non_empty: bool = False) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise InvalidValue(key, f"is {describe(value)}, not a list")
    if non_empty and not value:
        raise InvalidValue(key, "is an empty list; it needs at least one item")
    return value


def as_text(value: object, key: str, *, non_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidValue(key, f"is {describe(value)}, not text")
    if non_empty and not value:
        raise InvalidValue(key, "is empty")
    return value


def as_int(value: object, key: str, *, low: int = 0, high: int = MAX_BYTES) -> int:
    """A whole number in ``[low, high]``; a float with no fraction counts (``1e6``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidValue(key, f"is {describe(value)}, not a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValue(key, f"is {describe(value)}, not a finite number")
        if not value.is_integer():
            raise InvalidValue(key, f"is {describe(value)}, not a whole number")
    if not low <= value <= high:
        raise InvalidValue(key, _outside(value, low, high))
    return int(value)


def as_float(value: object, key: str, *, low: float = -MAX_BYTES, high: float = MAX_BYTES) -> float:
    """A finite number in ``[low, high]``: NaN and infinities never reach the statistics."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidValue(key, f"is {describe(value)}, not a number")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidValue(key, f"is {describe(value)}, past the range of a float") from None
    if not math.isfinite(number):
        raise InvalidValue(key, f"is {describe(value)}, not a finite number")
    if not low <= value <= high:  # the value as written: an int compares exactly, its float may not
        raise InvalidValue(key, _outside(value, low, high))
    return number


def _outside(value: int | float, low: float, high: float) -> str:
    if value < low:
        if low == 0:
            return f"is {describe(value)}; it cannot be negative"
        if low <= -MAX_BYTES:
            return f"is {describe(value)}, beyond any 64-bit count of bytes"
        return f"is {describe(value)}, below {low:g}"
    if high >= MAX_BYTES:
        return f"is {describe(value)}, beyond any 64-bit count of bytes"
    return f"is {describe(value)}, above {high:g}"
