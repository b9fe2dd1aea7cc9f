"""Each kind of option value, read and checked at the door: booleans, counts, fractions,
seconds, paths, sizes, lists and choices, from TOML values or command-line text.

A bad value is a ``ValueError`` whose message says what was expected; ``config.py`` adds
where the value came from. The bounds keep a typo from failing (or never ending) mid-session.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable
from pathlib import Path

from .units import parse_size
from .validate import MAX_BYTES, shown

# Bounds checked at the door, before anything is measured. Each is far past any real use;
# past it, a value is a typo or an overflow, and would fail (or never end) mid-session.
MAX_RUNS = 1000  # every run forks and measures the scenario; the statistics gain nothing past this
MAX_SECONDS = 7 * 24 * 3600.0  # a run that takes a week has hung; system timers overflow further out
MIN_MEMORY_BYTES = 1024**2  # a limit or hard cap below 1 MiB stops every run: Python alone needs more
PLACEHOLDERS = ("python", "implementation", "platform", "machine", "backend")


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
    raise ValueError(f"expected true or false, got {shown(value)}")


def parse_positive_int(value: object) -> int:
    """A whole number >= 1, from TOML or text; within 64 bits, like every count the gate keeps."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and len(value) <= 40:
        try:
            number = int(value.strip())
        except ValueError:
            number = None
    if number is None or number < 1:
        raise ValueError(f"expected a positive whole number, got {shown(value)}")
    if number > MAX_BYTES:
        raise ValueError(f"{shown(value)} is past the largest whole number the gate keeps (2**63 - 1)")
    return number


def parse_run_count(value: object) -> int:
    """A number of runs: at least 1, at most ``MAX_RUNS``."""
    number = parse_positive_int(value)
    if number > MAX_RUNS:
        raise ValueError(
            f"{number} runs is more than {MAX_RUNS}: every run forks and measures the scenario, "
            "and the statistics are settled long before; use at most a few dozen"
        )
    return number


def _number(value: object, expected: str) -> float:
    """A finite float from a TOML number or text; NaN and infinities are refused here."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected {expected}, got {shown(value)}")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"expected {expected}, got {shown(value)}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected {expected}, got {shown(value)}, which is not a finite number")
    return number


def parse_fraction(value: object) -> float:
    """``"3%"`` or ``0.03`` -> 0.03."""
    expected = "a fraction such as 0.03 or '3%'"
    if isinstance(value, str) and value.strip().endswith("%"):
        number = _number(value.strip()[:-1], expected) / 100
    else:
        number = _number(value, expected)
    if not 0 <= number < 10:
        raise ValueError(f"expected a fraction between 0 and 10 (0%..1000%), got {shown(value)}")
    return number


def parse_probability(value: object) -> float:
    number = parse_fraction(value)
    if not 0 < number < 0.5:
        raise ValueError(f"expected a significance level between 0 and 0.5, got {shown(value)}")
    return number


def parse_seconds(value: object) -> float:
    """Seconds, ``900`` or ``"900s"``: finite and positive, or a run could never time out."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.endswith("s"):
        text = text[:-1]
    number = _number(text, "a number of seconds")
    if not 0 < number <= MAX_SECONDS:
        raise ValueError(
            f"expected a positive number of seconds, at most {MAX_SECONDS:.0f} (a week), got {shown(value)}"
        )
    return number


def parse_path(value: object) -> Path:
    """A file path as text; a NUL byte is refused now, not when the file is written at the end."""
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a file path as text, got {shown(value)}")
    text = value.strip()
    if not text:
        raise ValueError("expected a file path, got an empty string")
    if "\0" in text:
        raise ValueError(f"the path {text!r} contains a NUL byte, which no file name can hold")
    return Path(text)


def baseline_template_fields(text: str) -> list[tuple[str, str | None]]:
    """``text`` as (literal, placeholder or None) pieces; a ValueError names a bad placeholder.

    Only bare names are allowed: ``str.format`` would also follow ``{python.x}`` and
    ``{python[0]}`` into attributes and items of the values.
    """
    valid = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(
            f"is not a valid template ({exc}); the placeholders are {valid}, and a literal brace is "
            "written {{ or }}"
        ) from None
    pieces: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is not None and (name not in PLACEHOLDERS or spec or conversion):
            field = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ValueError(f"has the placeholder {field!r}; the valid ones are {valid}")
        pieces.append((literal, name))
    return pieces


def parse_baseline_path(value: object) -> Path:
    """A baseline path, whose placeholders are checked now rather than when it is first read."""
    path = parse_path(value)
    if "{" in str(path):
        baseline_template_fields(str(path))
    return path


def parse_list(value: object) -> tuple[str, ...]:
    """A TOML list, or a comma-separated string from the command line or an ini file."""
    if isinstance(value, (list, tuple)):
        for item in value:
            if not isinstance(item, str):
                raise ValueError(
                    f"expected a list of text such as ['main', 'release/*'], got {shown(item)} in it"
                )
        items = [v.strip() for v in value]
    elif isinstance(value, str):
        items = [part.strip() for part in value.replace("\n", ",").split(",")]
    else:
        raise ValueError(f"expected a list such as ['main', 'release/*'], got {shown(value)}")
    return tuple(item for item in items if item)


def parse_suite_size(value: object) -> int | None:
    """``auto`` (count the scenarios at collection) or the whole suite's number of scenarios."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    return parse_positive_int(value)


def parse_jobs(value: object) -> int | None:
    """``auto`` (the usable cores, see ``limits.cpu_jobs``) or how many children measure at once."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    return parse_positive_int(value)


def parse_text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text in quotes, got {shown(value)}")
    return value.strip()


def parse_byte_size(value: object) -> int:
    """``units.parse_size`` kept within 64 bits: ``"1e300 TiB"`` is an error, not an overflow."""
    try:
        size = parse_size(value)
    except OverflowError:
        size = MAX_BYTES + 1
    if size > MAX_BYTES:
        raise ValueError(f"{shown(value)} is more bytes than any machine has (at most 8 EiB)")
    return size


def parse_optional_size(value: object) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "auto")):
        return None
    return parse_byte_size(value)


def parse_memory_limit(value: object) -> int | None:
    """None (use the cgroup's), or a limit of at least 1 MiB: 0 would stop every run."""
    limit = parse_optional_size(value)
    if limit is not None and limit < MIN_MEMORY_BYTES:
        raise ValueError(
            f"a memory limit of {shown(value)} is below 1 MiB: every '40%' budget and the automatic "
            "hard cap would stop every run; give the real limit (e.g. '512 MiB') or 'auto' for the cgroup's"
        )
    return limit


def parse_hard_cap(value: object) -> str | int | float:
    """'auto', 'off', a size of at least 1 MiB, or a share of the memory limit ('80%')."""
    if isinstance(value, str) and value.strip().lower() in ("auto", "off"):
        return value.strip().lower()
    if isinstance(value, str) and value.strip().endswith("%"):
        share = parse_fraction(value)
        if not 0 < share <= 1:
            raise ValueError(f"a share of the memory limit must be between 0% and 100%, got {shown(value)}")
        return share
    size = parse_byte_size(value)
    if size < MIN_MEMORY_BYTES:
        raise ValueError(
            f"a hard cap of {shown(value)} is below 1 MiB and would stop every run; use a size such as "
            "'2 GiB', a share such as '80%', or 'off'"
        )
    return size


def choice(*choices: str) -> Callable[[object], str]:
    """A parser that takes one of ``choices``, in any case."""

    def parse(value: object) -> str:
        text = value.strip().lower() if isinstance(value, str) else ""
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {shown(value)}")
        return text

    return parse
