"""The option table, and one resolver: command line > ``[tool.memgate]`` > ini > default.

Each option is declared once here; the pytest flags, the ini keys and the pyproject keys
are all built from the table, so a new option cannot be forgotten in one of them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .units import parse_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def parse_positive_int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a positive whole number, got {value!r}")
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise ValueError(f"expected a positive whole number, got {value!r}") from None
    if number < 1:
        raise ValueError(f"expected a positive whole number, got {value!r}")
    return number


def parse_fraction(value: object) -> float:
    """``"3%"`` or ``0.03`` -> 0.03."""
    if isinstance(value, bool):
        raise ValueError(f"expected a fraction such as 0.03 or '3%', got {value!r}")
    text = str(value).strip()
    try:
        number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(f"expected a fraction such as 0.03 or '3%', got {value!r}") from None
    if not 0 <= number < 10:
        raise ValueError(f"expected a fraction between 0 and 10 (0%..1000%), got {value!r}")
    return number


def parse_probability(value: object) -> float:
    number = parse_fraction(value)
    if not 0 < number < 0.5:
        raise ValueError(f"expected a significance level between 0 and 0.5, got {value!r}")
    return number


def parse_seconds(value: object) -> float:
    try:
        number = float(str(value).strip().rstrip("s"))
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {value!r}") from None
    if number <= 0:
        raise ValueError(f"expected a positive number of seconds, got {value!r}")
    return number


def parse_path(value: object) -> Path:
    text = str(value).strip()
    if not text:
        raise ValueError("expected a file path, got an empty string")
    return Path(text)


def parse_list(value: object) -> tuple[str, ...]:
    """A TOML list, or a comma-separated string from the command line or an ini file."""
    if isinstance(value, (list, tuple)):
        items = [str(v).strip() for v in value]
    elif isinstance(value, str):
        items = [part.strip() for part in value.replace("\n", ",").split(",")]
    else:
        raise ValueError(f"expected a list such as ['main', 'release/*'], got {value!r}")
    return tuple(item for item in items if item)


def parse_text(value: object) -> str:
    return str(value).strip()


def parse_optional_size(value: object) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "auto")):
        return None
    return parse_size(value)


def parse_hard_cap(value: object) -> str | int | float:
    """'auto', 'off', a size, or a share of the memory limit ('80%')."""
    text = str(value).strip().lower()
    if text in ("auto", "off"):
        return text
    if text.endswith("%"):
        share = parse_fraction(text)
        if not 0 < share <= 1:
            raise ValueError(f"a share of the memory limit must be between 0% and 100%, got {value!r}")
        return share
    return parse_size(value)


def _choice(*choices: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return text

    return parse


@dataclass(frozen=True, slots=True)
class Option:
    key: str  # the [tool.memgate] key; the flag is --memgate-<key with dashes>
    parse: Callable[[object], Any]
    default: Any
    help: str
    is_flag: bool = False

    @property
    def flag(self) -> str:
        return "--memgate" if self.key == "enabled" else "--memgate-" + self.key.replace("_", "-")

    @property
    def dest(self) -> str:
        return "memgate_" + self.key

    @property
    def ini_name(self) -> str:
        return "memgate_" + self.key


OPTIONS: tuple[Option, ...] = (
    Option("enabled", parse_bool, False, "measure memload scenarios and gate on their memory", True),
    Option("update", parse_bool, False, "write measured scenarios into the baseline", True),
    Option(
        "baseline",
        parse_path,
        Path(".memgate/baseline.json"),
        "baseline file (relative paths are taken from the rootdir)",
    ),
    Option("report", parse_path, None, "write a JSON report of every scenario to this path"),
    Option("strict", parse_bool, False, "fail scenarios that have no baseline yet", True),
    Option(
        "backend",
        _choice("auto", "memray", "tracemalloc"),
        "auto",
        "heap tracker: memray (default where it runs) or tracemalloc",
    ),
    Option(
        "min_runs",
        parse_positive_int,
        1,
        "runs before the first look at a scenario with a baseline (clear cases stop there)",
    ),
    Option(
        "runs",
        parse_positive_int,
        2,
        "fewest runs a regression needs (the second look); also the runs of a scenario with no baseline",
    ),
    Option(
        "baseline_runs",
        parse_positive_int,
        6,
        "runs recorded for a scenario whenever it is written into the baseline (at most max_runs)",
    ),
    Option("max_runs", parse_positive_int, 8, "most runs per scenario while the verdict is unclear"),
    Option(
        "alpha",
        parse_probability,
        0.01,
        "family-wise false-alarm rate for the whole session (Bonferroni over scenarios)",
    ),
    Option("peak_tolerance", parse_fraction, 0.03, "smallest relative heap peak increase that counts"),
    Option("peak_min_bytes", parse_size, 256 * 1024, "smallest absolute heap peak increase that counts"),
    Option("growth_tolerance", parse_size, 256, "smallest heap growth increase, bytes per call, that counts"),
    Option("rss_peak_tolerance", parse_fraction, 0.10, "smallest relative RSS peak increase that counts"),
    Option("rss_peak_min_bytes", parse_size, 16 * 1024**2, "smallest absolute RSS peak increase that counts"),
    Option(
        "rss_growth_tolerance",
        parse_size,
        16 * 1024,
        "smallest RSS growth increase, bytes per call, that counts",
    ),
    Option(
        "inconclusive",
        _choice("pass", "fail"),
        "pass",
        "what an unclear verdict after --memgate-max-runs does (pass warns)",
    ),
    Option(
        "trace_python_allocators",
        parse_bool,
        True,
        "count every small Python object (precise, about 3x slower under memray); false sees "
        "them only as 1 MiB pymalloc arenas",
    ),
    Option(
        "memory_limit",
        parse_optional_size,
        None,
        "memory limit budgets in percent refer to (default: the cgroup limit, if any)",
    ),
    Option(
        "hard_cap",
        parse_hard_cap,
        "auto",
        "stop a run whose RSS growth passes this (size, share of the limit, 'off'); auto: the "
        "smaller of max(4x budget, budget + 512 MiB) and 90% of the memory limit",
    ),
    Option(
        "update_branches",
        parse_list,
        (),
        "branch globs (e.g. main,release/*) on which a run refreshes passing and new scenarios",
    ),
    Option(
        "accept",
        parse_list,
        (),
        "scenario ids or globs whose regression is intended: record their new figures",
    ),
    Option("reason", parse_text, "", "why the accepted scenarios may use more memory (required)"),
    Option(
        "env_mismatch",
        _choice("skip", "warn", "fail"),
        "skip",
        "a baseline from another environment: skip the comparison, compare with a warning, or fail",
    ),
    Option(
        "fingerprint_packages",
        parse_list,
        (),
        "packages whose versions belong to the environment fingerprint (e.g. numpy,orjson)",
    ),
    Option("timeout", parse_seconds, 900.0, "seconds one isolated run may take before it is killed"),
)
OPTIONS_BY_KEY: dict[str, Option] = {option.key: option for option in OPTIONS}


def option_default(key: str) -> Any:
    """The one place a default lives: the option table."""
    return OPTIONS_BY_KEY[key].default


@dataclass(frozen=True, slots=True)
class GateConfig:
    enabled: bool = option_default("enabled")
    update: bool = option_default("update")
    baseline: Path = option_default("baseline")  # noqa: RUF009 - a Path is immutable
    report: Path | None = option_default("report")  # noqa: RUF009 - None or an immutable Path
    strict: bool = option_default("strict")
    backend: str = option_default("backend")
    min_runs: int = option_default("min_runs")
    runs: int = option_default("runs")
    baseline_runs: int = option_default("baseline_runs")
    max_runs: int = option_default("max_runs")
    alpha: float = option_default("alpha")
    peak_tolerance: float = option_default("peak_tolerance")
    peak_min_bytes: int = option_default("peak_min_bytes")
    growth_tolerance: int = option_default("growth_tolerance")
    rss_peak_tolerance: float = option_default("rss_peak_tolerance")
    rss_peak_min_bytes: int = option_default("rss_peak_min_bytes")
    rss_growth_tolerance: int = option_default("rss_growth_tolerance")
    inconclusive: str = option_default("inconclusive")
    trace_python_allocators: bool = option_default("trace_python_allocators")
    memory_limit: int | None = option_default("memory_limit")
    hard_cap: str | int | float = option_default("hard_cap")
    update_branches: tuple[str, ...] = option_default("update_branches")
    accept: tuple[str, ...] = option_default("accept")
    reason: str = option_default("reason")
    env_mismatch: str = option_default("env_mismatch")
    fingerprint_packages: tuple[str, ...] = option_default("fingerprint_packages")
    timeout: float = option_default("timeout")
    rootdir: Path = Path(".")
    sources: tuple[tuple[str, str], ...] = ()  # (key, where its value came from)

    @property
    def baseline_path(self) -> Path:
        return self.baseline if self.baseline.is_absolute() else self.rootdir / self.baseline

    @property
    def report_path(self) -> Path | None:
        if self.report is None:
            return None
        return self.report if self.report.is_absolute() else self.rootdir / self.report


def read_pyproject_table(path: Path) -> dict[str, Any]:
    """The ``[tool.memgate]`` table of a pyproject.toml, or ``{}`` when there is none."""
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"memgate: cannot read {path}: {exc}; fix the TOML syntax") from exc
    table = document.get("tool", {}).get("memgate", {})
    if not isinstance(table, dict):
        raise ConfigError(f"memgate: [tool.memgate] in {path} must be a table")
    unknown = sorted(set(table) - set(OPTIONS_BY_KEY))
    if unknown:
        known = ", ".join(sorted(OPTIONS_BY_KEY))
        raise ConfigError(
            f"memgate: unknown key(s) {', '.join(unknown)} in [tool.memgate] of {path}; known keys: {known}"
        )
    return table


def resolve_config(
    cli: Mapping[str, Any],
    pyproject: Mapping[str, Any],
    ini: Mapping[str, Any],
    *,
    rootdir: Path,
    pyproject_path: Path | None = None,
) -> GateConfig:
    """Merge the three sources; ``None`` in ``cli``/``ini`` means "not given there"."""
    values: dict[str, Any] = {}
    sources: list[tuple[str, str]] = []
    for option in OPTIONS:
        if cli.get(option.key) is not None:
            raw, where = cli[option.key], f"command line {option.flag}"
        elif option.key in pyproject:
            raw, where = pyproject[option.key], f"[tool.memgate] {option.key} in {pyproject_path}"
        elif ini.get(option.key) not in (None, ""):
            raw, where = ini[option.key], f"ini {option.ini_name}"
        else:
            values[option.key] = option.default
            continue
        try:
            values[option.key] = option.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"memgate: bad value for {where}: {exc}") from None
        sources.append((option.key, where))
    if values["max_runs"] < values["runs"]:
        raise ConfigError(
            f"memgate: max_runs ({values['max_runs']}) is smaller than runs ({values['runs']}); "
            "raise --memgate-max-runs or lower --memgate-runs"
        )
    if values["min_runs"] > values["runs"]:
        raise ConfigError(
            f"memgate: min_runs ({values['min_runs']}) is larger than runs ({values['runs']}); "
            "lower --memgate-min-runs or raise --memgate-runs"
        )
    if values["accept"] and not values["reason"]:
        raise ConfigError(
            'memgate: --memgate-accept needs --memgate-reason "..." saying why the scenario may '
            "use more memory; the reason is written into the baseline"
        )
    return GateConfig(**values, rootdir=rootdir, sources=tuple(sources))
