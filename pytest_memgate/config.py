"""The option table, and one resolver: command line > ``[tool.memgate]`` > ini > default.

Each option is declared once here; the pytest flags, the ini keys and the pyproject keys
are all built from the table, so a new option cannot be forgotten in one of them.
"""

from __future__ import annotations

import math
import string
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .units import parse_size
from .validate import MAX_BYTES, shown

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


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


def _choice(*choices: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        text = value.strip().lower() if isinstance(value, str) else ""
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {shown(value)}")
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
        parse_baseline_path,
        Path(".memgate/baseline.json"),
        "baseline file (relative paths are taken from the rootdir)",
    ),
    Option("report", parse_path, None, "write a JSON report of every scenario to this path"),
    Option(
        "html",
        parse_path,
        None,
        "write a self-contained HTML report (charts against the baseline, allocation sites) to this path",
    ),
    Option(
        "markdown", parse_path, None, "write a Markdown summary (for a pull-request comment) to this path"
    ),
    Option(
        "keep_captures",
        parse_path,
        None,
        "keep memray's capture of every scenario's last run in this directory (flame graphs of "
        "them beside the HTML report); without it, only regressions' captures are kept, for their "
        "flame graphs",
    ),
    Option("strict", parse_bool, False, "fail scenarios that have no baseline yet", True),
    Option(
        "backend",
        _choice("auto", "memray", "tracemalloc"),
        "auto",
        "heap tracker: memray (default where it runs) or tracemalloc",
    ),
    Option(
        "min_runs",
        parse_run_count,
        1,
        "runs before the first look at a scenario with a baseline (clear cases stop there)",
    ),
    Option(
        "runs",
        parse_run_count,
        2,
        "fewest runs a regression needs (the second look); also the runs of a scenario with no baseline",
    ),
    Option(
        "baseline_runs",
        parse_run_count,
        6,
        "runs recorded for a scenario whenever it is written into the baseline (at most max_runs)",
    ),
    Option("max_runs", parse_run_count, 8, "most runs per scenario while the verdict is unclear"),
    Option(
        "alpha",
        parse_probability,
        0.01,
        "family-wise false-alarm rate for the whole session (Bonferroni over scenarios)",
    ),
    Option(
        "suite_size",
        parse_suite_size,
        None,
        "scenarios the false-alarm rate is shared over; auto: the memload scenarios collected "
        "before -k/-m/pytest-split deselection; give the whole suite's count when each CI shard "
        "collects only its own paths",
    ),
    Option("peak_tolerance", parse_fraction, 0.03, "smallest relative heap peak increase that counts"),
    Option("peak_min_bytes", parse_byte_size, 256 * 1024, "smallest absolute heap peak increase that counts"),
    Option(
        "growth_tolerance", parse_byte_size, 256, "smallest heap growth increase, bytes per call, that counts"
    ),
    Option("rss_peak_tolerance", parse_fraction, 0.10, "smallest relative RSS peak increase that counts"),
    Option(
        "rss_peak_min_bytes", parse_byte_size, 16 * 1024**2, "smallest absolute RSS peak increase that counts"
    ),
    Option(
        "rss_growth_tolerance",
        parse_byte_size,
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
        parse_memory_limit,
        None,
        "memory limit budgets in percent refer to (default: the cgroup limit, if any)",
    ),
    Option(
        "hard_cap",
        parse_hard_cap,
        "auto",
        "stop a measuring child whose RSS growth passes this (size, share of the limit such as "
        "'80%' split between a run's two children, 'off'); auto: the smaller of max(4x budget, "
        "budget + 512 MiB) and 25% of the memory limit (else of the machine's memory) per child, "
        "at least 64 MiB",
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
    Option(
        "timeout",
        lambda value: None if str(value).strip().lower() == "auto" else parse_seconds(value),
        None,
        "seconds one isolated run may take before it is killed; auto: 600 s for a scenario's "
        "first run, then 5x its slowest run so far (at least 60 s)",
    ),
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
    html: Path | None = option_default("html")  # noqa: RUF009 - None or an immutable Path
    markdown: Path | None = option_default("markdown")  # noqa: RUF009 - None or an immutable Path
    keep_captures: Path | None = option_default("keep_captures")  # noqa: RUF009 - None or a Path
    strict: bool = option_default("strict")
    backend: str = option_default("backend")
    min_runs: int = option_default("min_runs")
    runs: int = option_default("runs")
    baseline_runs: int = option_default("baseline_runs")
    max_runs: int = option_default("max_runs")
    alpha: float = option_default("alpha")
    suite_size: int | None = option_default("suite_size")  # None: counted at collection
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
    timeout: float | None = option_default("timeout")  # None: auto
    rootdir: Path = Path(".")
    invocation_dir: Path = Path(".")  # where pytest was started
    sources: tuple[tuple[str, str], ...] = ()  # (key, where its value came from)

    @property
    def baseline_path(self) -> Path:
        return self.baseline if self.baseline.is_absolute() else self.rootdir / self.baseline

    def output_path(self, key: str) -> Path | None:
        """Like ``--junitxml``: a path given on the command line is relative to where pytest
        was started; one from a configuration file is relative to the rootdir beside it."""
        path: Path | None = getattr(self, key)
        if path is None or path.is_absolute():
            return path
        from_command_line = dict(self.sources).get(key, "").startswith("command line")
        return (self.invocation_dir if from_command_line else self.rootdir) / path

    @property
    def report_path(self) -> Path | None:
        return self.output_path("report")


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
        except (ValueError, TypeError, ArithmeticError) as exc:
            # The parsers raise ValueError; the others are a safety net, so that no value from a
            # config file can end the session in a traceback instead of a usage error.
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
