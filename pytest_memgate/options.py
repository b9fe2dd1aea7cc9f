"""The option table: each option declared once, with its parser, its default and its help.

The pytest flags, the ini keys and the ``[tool.memgate]`` keys are all built from this
table, so a new option cannot be forgotten in one of them, and a default lives nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .values import (
    choice,
    parse_baseline_path,
    parse_bool,
    parse_byte_size,
    parse_fraction,
    parse_hard_cap,
    parse_jobs,
    parse_list,
    parse_memory_limit,
    parse_path,
    parse_probability,
    parse_run_count,
    parse_seconds,
    parse_suite_size,
    parse_text,
)


@dataclass(frozen=True, slots=True)
class Option:
    key: str  # the [tool.memgate] key; the flag is --memgate-<key with dashes>
    parse: Callable[[object], Any]
    default: Any
    help: str
    is_flag: bool = False
    shown: str | None = None  # the default in words, where the value stands for one ("auto")

    @property
    def flag(self) -> str:
        return "--memgate" if self.key == "enabled" else "--memgate-" + self.key.replace("_", "-")

    @property
    def dest(self) -> str:
        return "memgate_" + self.key

    @property
    def ini_name(self) -> str:
        return "memgate_" + self.key

    @property
    def default_text(self) -> str:
        """The default as ``--help`` and docs/configuration.md say it: ``auto`` rather than the
        ``None`` that stands for it, ``none`` for an unset path or list."""
        if self.shown is not None:
            return self.shown
        if self.default in (None, (), ""):
            return "none"
        return str(self.default)


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
        choice("auto", "memray", "tracemalloc"),
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
        "fewest runs a regression needs (the second look); also the runs of a scenario with no "
        "baseline that is not being recorded",
    ),
    Option(
        "baseline_runs",
        parse_run_count,
        6,
        "runs recorded for a scenario whenever it is written into the baseline (at most max_runs); "
        "more runs confirm a jump in peak in fewer runs",
    ),
    Option(
        "max_runs",
        parse_run_count,
        8,
        "most runs per scenario while the verdict is unclear; a jump in peak confirming that it is "
        "no odd level may take up to twice as many",
    ),
    Option(
        "jobs",
        parse_jobs,
        None,
        "measuring children at once (a run is two: heap and RSS); the runs a baseline or a look "
        "needs share them; auto: the usable cores (divided among xdist workers), 2 to 8",
        shown="auto",
    ),
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
        "before -k/-m/pytest-split deselection, or the baseline's scenarios when it holds more "
        "(--lf, a node id, one path); give the whole suite's count when each CI shard collects "
        "only its own paths",
        shown="auto",
    ),
    Option(
        "peak_tolerance", parse_fraction, 0.03, "smallest relative heap peak increase that counts", shown="3%"
    ),
    Option(
        "peak_min_bytes",
        parse_byte_size,
        256 * 1024,
        "smallest absolute heap peak increase that counts",
        shown="256 KiB",
    ),
    Option(
        "growth_tolerance",
        parse_byte_size,
        256,
        "smallest heap growth increase, bytes per call, that counts",
        shown="256 B",
    ),
    Option(
        "rss_peak_tolerance",
        parse_fraction,
        0.10,
        "smallest relative RSS peak increase that counts",
        shown="10%",
    ),
    Option(
        "rss_peak_min_bytes",
        parse_byte_size,
        16 * 1024**2,
        "smallest absolute RSS peak increase that counts",
        shown="16 MiB",
    ),
    Option(
        "rss_growth_tolerance",
        parse_byte_size,
        16 * 1024,
        "smallest RSS growth increase, bytes per call, that counts",
        shown="16 KiB",
    ),
    Option(
        "inconclusive",
        choice("pass", "fail"),
        "pass",
        "what an unclear verdict after --memgate-max-runs does (pass warns)",
    ),
    Option(
        "trace_python_allocators",
        parse_bool,
        True,
        "count every small Python object (precise, about 3x slower under memray); false sees "
        "them only as 1 MiB pymalloc arenas",
        shown="true",
    ),
    Option(
        "screen",
        parse_bool,
        True,
        "a cheap first look: one run that traces only its first measured calls and reads its "
        "floors from malloc's and pymalloc's counters; a clear pass stops there, anything else "
        "gets the full runs",
        shown="true",
    ),
    Option(
        "memory_limit",
        parse_memory_limit,
        None,
        "memory limit budgets in percent refer to; cgroup: the container's limit, if any",
        shown="cgroup",
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
        choice("skip", "warn", "fail"),
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
        shown="auto",
    ),
)
OPTIONS_BY_KEY: dict[str, Option] = {option.key: option for option in OPTIONS}


def option_default(key: str) -> Any:
    """The one place a default lives: the option table."""
    return OPTIONS_BY_KEY[key].default
