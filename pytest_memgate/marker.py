"""``@pytest.mark.memload(...)``: its arguments, their checks, and the frozen ``ScenarioSpec``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .config import parse_bool, parse_byte_size, parse_positive_int, parse_seconds
from .errors import ConfigError
from .validate import InvalidValue, as_object, shown

MARKER_NAME = "memload"


# Calls per run, measured or warm-up. Each measured call is followed by a collection and a
# few quiet milliseconds, so a million calls already take over an hour; the floor series
# of every run is also kept in the report. More is a typo, not a scenario.
MAX_CALLS = 1_000_000


def _calls(value: object, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"expected a whole number >= {low}, got {shown(value)}")
    if value > MAX_CALLS:
        raise ValueError(
            f"{shown(value)} calls is more than {MAX_CALLS:,}: every call is followed by a garbage "
            "collection and a quiet window, so a run would take hours; 50 to a few thousand is plenty"
        )
    return value


def _iterations(value: object) -> int:
    return _calls(value, low=1)


def _non_negative_int(value: object) -> int:
    return _calls(value, low=0)


def _strict_positive_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a positive whole number, got {shown(value)}")
    return parse_positive_int(value)


def parse_budget(value: object) -> int | float:
    """A size in bytes (int), or a share of the memory limit such as ``"40%"`` (float < 1)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            share = float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"{shown(value)} is not a percentage such as '40%'") from None
        if not 0 < share <= 1:  # NaN fails this too
            raise ValueError(f"a share of the memory limit must be between 0% and 100%, got {shown(value)}")
        return share
    return parse_byte_size(value)


def _sizes(value: object) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        raise ValueError(f"expected a list of at least two payload sizes, got {shown(value)}")
    sizes = tuple(_strict_positive_int(v) for v in value)
    if len(set(sizes)) != len(sizes) or list(sizes) != sorted(sizes):
        raise ValueError(f"payload sizes must be distinct and increasing, got {list(sizes)}")
    return sizes


def _exponent(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 10:
        raise ValueError(f"expected an exponent such as 1.2, got {shown(value)}")
    return float(value)


def _strict_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected True or False, got {shown(value)}")
    return parse_bool(value)


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """How to measure one scenario; also stored with its baseline so changes are visible."""

    iterations: int = 50
    warmup: int = 10
    max_peak: int | float | None = None  # heap peak budget: bytes, or a share of the memory limit
    max_growth: int | None = None  # bytes per call: absolute budget for heap growth
    max_rss: int | float | None = None  # RSS peak budget: bytes, or a share of the memory limit
    native_traces: bool = False
    trace_python_allocators: bool | None = None  # None: the session's setting (default True)
    timeout: float | None = None  # seconds per run; the session default applies when None
    sizes: tuple[int, ...] = ()  # payload sizes for the memload_size fixture (scaling)
    production_size: int | None = None  # extrapolate the peak to this payload size
    max_exponent: float | None = None  # budget for b in peak ~ a * n**b

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sizes"] = list(self.sizes)
        return data

    @classmethod
    def from_dict(cls, data: object) -> ScenarioSpec:
        """The spec as ``to_dict`` wrote it (budgets in bytes once resolved), checked as the
        marker's arguments are: it arrives from an xdist worker or a file, and a NaN timeout
        or a string of iterations must be an ``InvalidValue`` naming its key, not a traceback
        later. Keys this version does not know are ignored (a newer writer's additions)."""
        d = as_object(data)
        values: dict[str, Any] = {}
        for field in fields(cls):
            if field.name not in d:
                continue
            raw = d[field.name]
            if raw is None and field.name in _OPTIONAL:
                values[field.name] = None
                continue
            try:
                values[field.name] = _STORED.get(field.name, ARGUMENTS[field.name][0])(raw)
            except (ValueError, TypeError, ArithmeticError) as exc:
                raise InvalidValue(field.name, f"is invalid: {exc}") from None
        spec = cls(**values)
        problem = _inconsistency(spec)
        if problem is not None:
            written, text = problem
            raise InvalidValue(written.split("=", 1)[0], f"{text} ({written})" if "=" in written else text)
        return spec

    def with_limit(self, limit_bytes: int | None, nodeid: str) -> ScenarioSpec:
        """Shares of the memory limit turned into bytes; an error when no limit is known."""
        resolved: dict[str, Any] = {}
        for name in ("max_peak", "max_rss"):
            value = getattr(self, name)
            if isinstance(value, float):
                if limit_bytes is None:
                    raise ConfigError(
                        f"memgate: {nodeid}: memload {name}={value:.0%} is a share of the memory "
                        "limit, but no limit was found; set memory_limit in [tool.memgate] "
                        "(e.g. memory_limit = '512 MiB')"
                    )
                resolved[name] = int(value * limit_bytes)
        return replace(self, **resolved) if resolved else self


def _stored_budget(value: object) -> int | float:
    """A budget as ``to_dict`` writes it: bytes, or a share (0 to 1] not yet resolved."""
    if isinstance(value, float) and 0 < value <= 1:
        return value
    if isinstance(value, float) and not value.is_integer():  # NaN, infinities, fractions of a byte
        raise ValueError(f"expected a number of bytes or a share between 0 and 1, got {shown(value)}")
    return parse_byte_size(int(value) if isinstance(value, float) else value)


def _stored_sizes(value: object) -> tuple[int, ...]:
    """No sizes (an empty list) for a scenario without a family; else as the marker takes them."""
    if isinstance(value, (list, tuple)) and not value:
        return ()
    return _sizes(value)


# Fields that may be null, and the checks of fields whose stored form differs from the
# marker's argument; every other field is checked by the marker's own parser (ARGUMENTS).
_OPTIONAL = frozenset(
    (
        "max_peak",
        "max_growth",
        "max_rss",
        "trace_python_allocators",
        "timeout",
        "production_size",
        "max_exponent",
    )
)
_STORED: dict[str, Callable[[object], Any]] = {
    "max_peak": _stored_budget,
    "max_rss": _stored_budget,
    "sizes": _stored_sizes,
}


def _inconsistency(spec: ScenarioSpec) -> tuple[str, str] | None:
    """(argument as written, problem) when arguments that are each valid do not go together
    or are too few to measure anything: ``iterations=3``, ``is too few ...``."""
    if spec.production_size is not None and not spec.sizes:
        return "production_size", "needs sizes=[...] to fit how the peak grows with payload size"
    if spec.iterations < 5:
        return (
            f"iterations={spec.iterations}",
            "is too few to estimate growth; use at least 5 (50 or more for slow leaks)",
        )
    return None


# keyword -> (parser, help); the marker help line is built from this table.
ARGUMENTS: dict[str, tuple[Callable[[object], Any], str]] = {
    "iterations": (_iterations, "measured calls per run (default 50)"),
    "warmup": (_non_negative_int, "unmeasured calls before measuring (default 10)"),
    "max_peak": (parse_budget, "heap peak budget, e.g. '256 MiB', or '40%' of the memory limit"),
    "max_growth": (parse_byte_size, "heap growth budget per call, e.g. '1 KiB'"),
    "max_rss": (parse_budget, "RSS peak budget (growth since the run started), bytes or '40%'"),
    "native_traces": (_strict_bool, "record native stacks for allocation sites (slower)"),
    "trace_python_allocators": (
        _strict_bool,
        "see every small Python object, not only pymalloc arenas (default: the session's "
        "trace_python_allocators, True)",
    ),
    "timeout": (parse_seconds, "seconds one run may take"),
    "sizes": (
        _sizes,
        "payload sizes passed to the memload_size fixture; the peak's growth exponent with size is gated",
    ),
    "production_size": (_strict_positive_int, "payload size to extrapolate the peak to"),
    "max_exponent": (_exponent, "budget for the exponent b in peak ~ n**b"),
}

MARKER_HELP = (
    f"{MARKER_NAME}({', '.join(f'{k}=...' for k in ARGUMENTS)}): a memory scenario measured "
    "and gated by pytest --memgate; " + "; ".join(f"{k}: {h}" for k, (_, h) in ARGUMENTS.items())
)


def parse_marker(nodeid: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> ScenarioSpec:
    """Validate ``memload`` arguments; the error names the test and the argument to fix."""
    if args:
        raise ConfigError(
            f"memgate: {nodeid}: memload takes keyword arguments only, got {len(args)} positional; "
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
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise ConfigError(f"memgate: {nodeid}: memload {key}={shown(raw)} is invalid: {exc}") from None
    spec = ScenarioSpec(**values)
    problem = _inconsistency(spec)
    if problem is not None:
        key, text = problem
        raise ConfigError(f"memgate: {nodeid}: memload {key} {text}")
    return spec
