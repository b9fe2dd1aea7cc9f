"""``@pytest.mark.memload(...)``: its arguments, their checks, and the frozen ``ScenarioSpec``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .config import parse_bool, parse_positive_int, parse_seconds
from .errors import ConfigError
from .units import parse_size

MARKER_NAME = "memload"


def _non_negative_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number >= 0, got {value!r}")
    return value


def _strict_positive_int(value: object) -> int:
    if not isinstance(value, int):
        raise ValueError(f"expected a positive whole number, got {value!r}")
    return parse_positive_int(value)


def _strict_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected True or False, got {value!r}")
    return parse_bool(value)


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """How to measure one scenario; also stored with its baseline so changes are visible."""

    iterations: int = 50
    warmup: int = 10
    max_peak: int | None = None  # bytes: absolute budget for the heap peak
    max_growth: int | None = None  # bytes per call: absolute budget for heap growth
    native_traces: bool = False
    trace_python_allocators: bool = True
    timeout: float | None = None  # seconds per run; the session default applies when None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# keyword -> (parser, help); the marker help line is built from this table.
ARGUMENTS: dict[str, tuple[Callable[[object], Any], str]] = {
    "iterations": (_strict_positive_int, "measured calls per run (default 50)"),
    "warmup": (_non_negative_int, "unmeasured calls before measuring (default 10)"),
    "max_peak": (parse_size, "heap peak budget, e.g. '256 MiB'"),
    "max_growth": (parse_size, "heap growth budget per call, e.g. '1 KiB'"),
    "native_traces": (_strict_bool, "record native stacks for allocation sites (slower)"),
    "trace_python_allocators": (
        _strict_bool,
        "see every small Python object, not only pymalloc arenas (default True)",
    ),
    "timeout": (parse_seconds, "seconds one run may take"),
}

MARKER_HELP = (
    f"{MARKER_NAME}({', '.join(f'{k}=...' for k in ARGUMENTS)}): a memory scenario measured "
    "and gated by pytest --memgate; " + "; ".join(f"{k}: {h}" for k, (_, h) in ARGUMENTS.items())
)


def parse_marker(nodeid: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> ScenarioSpec:
    """Validate ``memload`` arguments; the error names the test and the argument to fix."""
    if args:
        raise ConfigError(
            f"memgate: {nodeid}: memload takes keyword arguments only, got positional {args!r}; "
            "write e.g. memload(iterations=50, warmup=10)"
        )
    values: dict[str, Any] = {}
    for key, raw in kwargs.items():
        if key not in ARGUMENTS:
            raise ConfigError(
                f"memgate: {nodeid}: unknown memload argument {key!r}; "
                f"known arguments: {', '.join(ARGUMENTS)}"
            )
        parser, _ = ARGUMENTS[key]
        try:
            values[key] = parser(raw)
        except ValueError as exc:
            raise ConfigError(f"memgate: {nodeid}: memload {key}={raw!r} is invalid: {exc}") from None
    spec = ScenarioSpec(**values)
    if spec.iterations < 5:
        raise ConfigError(
            f"memgate: {nodeid}: memload iterations={spec.iterations} is too few to estimate "
            "growth; use at least 5 (50 or more for slow leaks)"
        )
    return spec
