from __future__ import annotations

import pytest

from pytest_memgate.units import format_percent, format_size, parse_size


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
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.50 KiB"), (256 * 1024**2, "256 MiB"), (-2048, "-2.00 KiB")],
)
def test_format_size(n: float, expected: str) -> None:
    assert format_size(n) == expected


def test_format_size_signed_and_percent() -> None:
    assert format_size(10, signed=True) == "+10 B"
    assert format_percent(1.052) == "+5.2%"
    assert format_percent(0.9) == "-10.0%"


def test_round_trip_through_format_is_close() -> None:
    for n in (1, 999, 4096, 10**6, 3 * 10**9):
        text = format_size(n)
        assert abs(parse_size(text) - n) / n < 0.01
