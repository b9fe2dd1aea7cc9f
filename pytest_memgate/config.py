"""``GateConfig`` and its one resolver: command line > ``[tool.memgate]`` > ini > default.

The options themselves (parser, default, help) are the table in ``options.py``; their
values are read by ``values.py``. The names callers import from here are re-exported.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .options import OPTIONS, OPTIONS_BY_KEY, Option, option_default
from .values import (
    MAX_RUNS,
    baseline_template_fields,
    parse_bool,
    parse_byte_size,
    parse_positive_int,
    parse_seconds,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

# Imported from here by the marker, the environment, the command and the tests.
__all__ = [
    "MAX_RUNS",
    "OPTIONS",
    "OPTIONS_BY_KEY",
    "GateConfig",
    "Option",
    "baseline_template_fields",
    "option_default",
    "parse_bool",
    "parse_byte_size",
    "parse_positive_int",
    "parse_seconds",
    "read_pyproject_table",
    "resolve_config",
]


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
    jobs: int | None = option_default("jobs")  # None: auto (limits.cpu_jobs)
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
    screen: bool = option_default("screen")
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


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            document: dict[str, Any] = tomllib.load(handle)
            return document
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"memgate: cannot read {path}: {exc}; fix the TOML syntax") from None


def read_pyproject_table(path: Path) -> dict[str, Any]:
    """The ``[tool.memgate]`` table of a pyproject.toml, or ``{}`` when there is none."""
    if not path.is_file():
        return {}
    table = _read_toml(path).get("tool", {}).get("memgate", {})
    if not isinstance(table, dict):
        raise ConfigError(f"memgate: [tool.memgate] in {path} must be a table")
    unknown = sorted(set(table) - set(OPTIONS_BY_KEY))
    if unknown:
        known = ", ".join(sorted(OPTIONS_BY_KEY))
        raise ConfigError(
            f"memgate: unknown key(s) {', '.join(unknown)} in [tool.memgate] of {path}; known keys: {known}"
        )
    return table


def native_pytest_table(inipath: Path | None) -> dict[str, Any]:
    """pytest's own TOML table (``[tool.pytest]`` of pyproject.toml, ``[pytest]`` of
    pytest.toml) with its values' TOML types; ``{}`` for any other configuration file."""
    if inipath is None or inipath.suffix != ".toml":
        return {}
    document = _read_toml(inipath)
    table = document.get("pytest", {}) if inipath.name in ("pytest.toml", ".pytest.toml") else None
    if table is None:
        table = document.get("tool", {}).get("pytest", {})
    return {k: v for k, v in table.items() if k != "ini_options"} if isinstance(table, dict) else {}


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
