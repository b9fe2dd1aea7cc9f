from __future__ import annotations

import math
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pytest_memgate.units import format_percent, format_size, parse_size

KiB, MiB, GiB, TiB = 1024, 1024**2, 1024**3, 1024**4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("256 MiB", 256 * 1024**2),
        ("1KiB", 1024),
        ("1.5 KB", 1500),
        ("512", 512),
        (4096, 4096),
        ("2gib", 2 * 1024**3),
        ("0", 0),
        (" 10 b ", 10),
        ("1e3", 1000),
    ],
)
def test_parse_size_accepts(text: object, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lots", "is not a size"),
        ("12 parsecs", "unknown unit 'parsecs'"),
        ("-1 KiB", "is not a size"),
        (True, "expected a size"),
        (None, "expected a size"),
        (float("nan"), "finite"),
    ],
)
def test_parse_size_rejects_with_the_fix(text: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_size(text)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.50 KiB"),
        (256 * 1024**2, "256 MiB"),
        (-2048, "-2.00 KiB"),
        # three significant digits, decided on the rounded figure
        (10 * MiB, "10.0 MiB"),
        (9.994 * MiB, "9.99 MiB"),
        (9.996 * MiB, "10.0 MiB"),
        (99.94 * KiB, "99.9 KiB"),
        (99.96 * KiB, "100 KiB"),
        (999.4 * KiB, "999 KiB"),
        # the unit follows the rounded figure: never "1024 B" or "1024 KiB"
        (1023.4, "1023 B"),
        (1023.5, "1.00 KiB"),
        (1023.4 * KiB, "1023 KiB"),
        (1023.6 * KiB, "1.00 MiB"),
        (1024 * KiB, "1.00 MiB"),
        (1013 * KiB, "1013 KiB"),  # whole numbers under 1024 keep their fourth digit
        (1.5 * TiB, "1.50 TiB"),
        # nothing to sign, and what is not a number
        (-0.3, "0 B"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (math.nan, "nan"),
    ],
)
def test_format_size(n: float, expected: str) -> None:
    assert format_size(n) == expected


def test_format_size_signs_what_it_prints() -> None:
    assert format_size(-0.3, signed=True) == "+0 B"
    assert format_size(0, signed=True) == "+0 B"
    assert format_size(math.inf, signed=True) == "+inf"
    assert format_size(-9.996 * MiB, signed=True) == "-10.0 MiB"


def test_format_size_signed_and_percent() -> None:
    assert format_size(10, signed=True) == "+10 B"
    assert format_percent(1.052) == "+5.2%"
    assert format_percent(0.9) == "-10.0%"


def test_round_trip_through_format_is_close() -> None:
    for n in (1, 999, 4096, 10**6, 3 * 10**9):
        text = format_size(n)
        assert abs(parse_size(text) - n) / n < 0.01


# --- properties -------------------------------------------------------------------------------

_TEXT = re.compile(r"^([+-]?)(\d+(?:\.\d+)?) (B|KiB|MiB|GiB|TiB)$")
_UNIT = {"B": 1, "KiB": KiB, "MiB": MiB, "GiB": GiB, "TiB": TiB}
sizes = st.floats(min_value=0, max_value=999 * TiB, allow_nan=False, allow_infinity=False)


def _significant(number: str) -> int:
    return len(number.replace(".", "").lstrip("0")) or 1


@given(sizes)
@example(9.995 * MiB)
@example(99.95 * KiB)
@example(1023.5)
@example(1024 * KiB)
@example(1023.5 * GiB)
def test_format_size_has_three_significant_digits(n: float) -> None:
    """At most three significant digits and a unit; only whole numbers from 1000 to 1023
    keep a fourth (rounding 1013 KiB to "0.989 MiB" or "1010 KiB" reads worse)."""
    text = format_size(n)
    match = _TEXT.match(text)
    assert match, text
    number, unit = match.group(2), match.group(3)
    assert float(number) < 1024, text
    if _significant(number) > 3:
        assert number.isdigit() and 1000 <= int(number) <= 1023, text
    if unit != "B":
        assert float(number) >= 1, text  # never "0.98 KiB": that is bytes


@given(sizes, st.booleans())
@example(9.995 * MiB, False)
@example(99.95 * KiB, True)
@example(1023.5, False)
def test_parse_size_reads_format_size_back_within_its_precision(n: float, signed: bool) -> None:
    text = format_size(n, signed=signed)
    match = _TEXT.match(text)
    assert match, text
    number, unit = match.group(2), match.group(3)
    decimals = len(number.split(".")[1]) if "." in number else 0
    precision = 0.5 * 10**-decimals * _UNIT[unit]  # half the last printed digit
    read = parse_size(text.lstrip("+"))
    assert abs(read - n) <= precision + 0.5 + n * 1e-12, (n, text, read)  # parse_size rounds to bytes


@given(sizes, sizes)
def test_format_size_is_monotone(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert parse_size(format_size(low)) <= parse_size(format_size(high))


@given(sizes)
def test_format_size_is_symmetric(n: float) -> None:
    positive, negative = format_size(n), format_size(-n)
    assert negative == (positive if parse_size(positive) == 0 else "-" + positive)
    assert format_size(n, signed=True) == "+" + positive
