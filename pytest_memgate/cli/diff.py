"""``memgate diff``: two baselines or reports judged with the plugin's statistics and the
project's ``[tool.memgate]`` tolerances (found as pytest finds its configuration)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import GateConfig, read_pyproject_table, resolve_config
from ..errors import MemgateError
from ..reports.compare import LEGEND, Cell, CompareRow, cells_from, sort_rows, table_rows
from ..reports.terminal import format_table
from ..reports.words import printable
from ..results import Finding, Metric, Outcome
from ..units import format_size
from .documents import EXIT_OK, EXIT_REGRESSION, Scenario, load_document
from .documents import size_text as _size

if TYPE_CHECKING:
    from ..verdict import Policy

# --- the project's configuration ----------------------------------------------------------

# The options ``memgate diff`` judges with: flags built from the option table, so that names,
# parsing and defaults stay in ``config.py``.
POLICY_KEYS = (
    "alpha",
    "peak_tolerance",
    "peak_min_bytes",
    "growth_tolerance",
    "rss_peak_tolerance",
    "rss_peak_min_bytes",
    "rss_growth_tolerance",
)


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` from ``start`` upwards: the project it is run in."""
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    config: GateConfig
    source: str  # where the settings came from, in words


def load_project_config(explicit: Path | None, overrides: Mapping[str, Any]) -> ProjectConfig:
    """The plugin's configuration (``[tool.memgate]``), with ``overrides`` from the command line."""
    cwd = Path.cwd()
    if explicit is None:
        path = find_pyproject(cwd)
    else:
        path = explicit / "pyproject.toml" if explicit.is_dir() else explicit
        if not path.is_file():
            raise MemgateError(
                f"memgate: --config {explicit} is not a file; pass a pyproject.toml or its directory"
            )
    try:
        table = read_pyproject_table(path) if path is not None else {}
    except (UnicodeDecodeError, AttributeError) as exc:  # not UTF-8, or `tool` is not a table
        raise MemgateError(f"memgate: cannot read {path} as a pyproject.toml ({exc}); fix the file") from None
    rootdir = path.parent if path is not None else cwd
    config = resolve_config(overrides, table, {}, rootdir=rootdir, pyproject_path=path)
    if path is None:
        source = f"defaults (no pyproject.toml in {cwd} or above; --config PATH names one)"
    elif not table:
        source = f"defaults (no [tool.memgate] in {path})"
    else:
        source = f"[tool.memgate] in {path}"
    given = [f"--{key.replace('_', '-')}" for key in POLICY_KEYS if overrides.get(key) is not None]
    if given:
        source += "; from the command line: " + " ".join(given)
    return ProjectConfig(config, source)


@dataclass(frozen=True, slots=True)
class ProjectFile:
    path: Path
    source: str  # why this file, in words


def project_file(explicit: Path | None, key: str = "baseline") -> ProjectFile | None:
    """The project's baseline (or ``report``) as the plugin would find it: ``[tool.memgate]``
    of the nearest pyproject.toml, else the default beside it; None for a report when none
    is configured. A file that is not there is an error saying where it was looked for."""
    config = load_project_config(explicit, {}).config
    path = config.baseline_path if key == "baseline" else config.report_path
    if path is None:
        return None
    where = dict(config.sources).get(key)
    if where is None:
        pyproject = config.rootdir / "pyproject.toml"
        beside = (
            f"beside {pyproject}" if pyproject.is_file() else f"in {config.rootdir}, no pyproject.toml above"
        )
        where = f"the default {key} path, {beside}"
    source = where.replace(f"[tool.memgate] {key} in ", "[tool.memgate] of ")
    if not path.is_file():
        what = (
            "pass its path"
            if key == "report"
            else "pass its path, or record one with pytest --memgate --memgate-update"
        )
        raise MemgateError(f"memgate: no {key} file given and none at {path} ({source}); {what}")
    return ProjectFile(path, source)


def percent_text(value: float) -> str:
    return f"{value * 100:g}%"


def tolerances_text(config: GateConfig) -> str:
    """The practical sizes a change must exceed, as ``memgate diff`` applies them."""
    return (
        f"heap peak > {percent_text(config.peak_tolerance)} and {format_size(config.peak_min_bytes)}, "
        f"heap growth > {format_size(config.growth_tolerance)}/call, "
        f"RSS peak > {percent_text(config.rss_peak_tolerance)} and {format_size(config.rss_peak_min_bytes)}, "
        f"RSS growth > {format_size(config.rss_growth_tolerance)}/call"
    )


# --- memgate diff ------------------------------------------------------------------------

NOT_COMPARED = "not compared"


@dataclass(frozen=True, slots=True)
class ScenarioDiff:
    id: str
    outcome: str  # an Outcome value, or NOT_COMPARED
    findings: tuple[Finding, ...]  # the ones that explain the outcome
    note: str = ""
    unproven: tuple[Finding, ...] = ()  # past the tolerance, not proven (beside a regression)
    too_few: tuple[Finding, ...] = ()  # metrics the runs are too few to compare
    compared: tuple[Finding, ...] = ()  # every metric's finding, for the table


def _runs(n: int) -> str:
    return f"{n} successful run{'' if n == 1 else 's'}"


def diff_scenario(old: Scenario, new: Scenario, policy: Policy) -> ScenarioDiff:
    """NEW's runs against OLD's runs, judged as the plugin judges a final verdict."""
    from ..verdict import compare_runs

    if old.backend and new.backend and old.backend != new.backend:
        return ScenarioDiff(
            old.id,
            NOT_COMPARED,
            (),
            f"OLD was measured with {old.backend}, NEW with {new.backend}; figures from different "
            "backends are not comparable",
        )
    for label, side in (("OLD", old), ("NEW", new)):
        if not side.runs:
            return ScenarioDiff(old.id, NOT_COMPARED, (), f"{label} has no successful runs")
    findings = tuple(compare_runs(new.runs, old.runs, policy))

    # A comparison with too few runs has no test; it is said so, never silently dropped.
    def lacks_runs(f: Finding) -> bool:
        return f.comparison is not None and f.comparison.insufficient_data

    too_few = tuple(f for f in findings if lacks_runs(f))
    usable = [f for f in findings if not lacks_runs(f)]
    regressed = tuple(f for f in usable if f.regressed)
    unclear = tuple(f for f in usable if f.suspected)
    if regressed:
        return ScenarioDiff(
            old.id, Outcome.REGRESSION.value, regressed, unproven=unclear, too_few=too_few, compared=findings
        )
    if unclear:
        note = "more runs are needed to decide"
        return ScenarioDiff(
            old.id, Outcome.INCONCLUSIVE.value, unclear, note, too_few=too_few, compared=findings
        )
    if too_few and len(too_few) == len(findings):
        note = (
            f"not enough runs: OLD has {_runs(len(old.runs))}, NEW {len(new.runs)}; a comparison "
            "needs at least 3 between them"
        )
        return ScenarioDiff(old.id, NOT_COMPARED, (), note, too_few=too_few, compared=findings)
    improved = tuple(f for f in usable if f.improved)
    if improved:
        return ScenarioDiff(old.id, Outcome.IMPROVED.value, improved, too_few=too_few, compared=findings)
    return ScenarioDiff(old.id, Outcome.PASS.value, (), too_few=too_few, compared=findings)


def too_few_text(finding: Finding) -> str:
    """A metric with too few runs for a test: what each side measured, and no verdict."""
    c = finding.comparison
    assert c is not None  # only baseline comparisons can lack runs
    per_call = finding.metric in (Metric.HEAP_GROWTH, Metric.RSS_GROWTH)
    old, new = (_size(v, signed=per_call, per_call=per_call) for v in (c.baseline, c.current))
    return f"not enough runs to compare {finding.metric.value}: {old} in OLD, {new} in NEW"


def diff_lines(result: ScenarioDiff) -> list[str]:
    from ..reports.words import finding_text

    lines = [f"{result.id}: {result.outcome}" + (f" ({result.note})" if result.note else "")]
    lines += [f"  {finding_text(f)}." for f in result.findings]
    if result.unproven:
        lines.append("  also past its tolerance, not yet proven:")
        lines += [f"  {finding_text(f)}." for f in result.unproven]
    lines += [f"  {too_few_text(f)}." for f in result.too_few]
    return lines


_MEDIANS = {
    Metric.HEAP_PEAK: "peak_heap_bytes",
    Metric.HEAP_GROWTH: "heap_growth",
    Metric.RSS_PEAK: "peak_rss_bytes",
    Metric.RSS_GROWTH: "rss_growth",
}


def _cells(findings: tuple[Finding, ...], new: Scenario) -> dict[Metric, Cell]:
    return cells_from(findings, {metric: new.median(name) for metric, name in _MEDIANS.items()})


def _row(result: ScenarioDiff, new: Scenario) -> CompareRow:
    failing = result.outcome == Outcome.REGRESSION.value
    return CompareRow(printable(result.id), result.outcome, failing, _cells(result.compared, new))


def _policy_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {key: getattr(args, key) for key in POLICY_KEYS}


def _diff_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """OLD and NEW as given; one path is NEW against the project's baseline; none is the
    project's report (``report`` in ``[tool.memgate]``) against its baseline."""
    if args.old is not None and args.new is not None:
        return args.old, args.new
    baseline = project_file(args.config)
    assert baseline is not None  # a baseline always has a path
    new = args.old
    if new is None:
        report = project_file(args.config, "report")
        if report is None:
            raise MemgateError(
                f"memgate: diff needs NEW, the report or baseline to judge against {baseline.path} "
                "(no report path in [tool.memgate]); pass it: memgate diff NEW or memgate diff OLD NEW"
            )
        print(f"NEW: {report.path} ({report.source})")
        new = report.path
    print(f"OLD: {baseline.path} ({baseline.source})")
    return baseline.path, new


def cmd_diff(args: argparse.Namespace) -> int:
    from ..verdict import COMPARISONS, Policy

    old_path, new_path = _diff_paths(args)
    old, new = load_document(old_path), load_document(new_path)
    project = load_project_config(args.config, _policy_overrides(args))
    config = project.config
    common = sorted(set(old.scenarios) & set(new.scenarios))
    removed = sorted(set(old.scenarios) - set(new.scenarios))
    added = sorted(set(new.scenarios) - set(old.scenarios))
    policy = Policy.from_config(config, tests=max(len(common), 1) * COMPARISONS, looks=1)  # one look
    print(
        f"memgate diff: OLD {old.kind} {old.path} -> NEW {new.kind} {new.path}; false-alarm rate "
        f"{config.alpha:g} over {len(common)} common scenario(s) x {COMPARISONS} metrics = "
        f"{policy.alpha:.2g} per test"
    )
    print(f"config: {project.source}")
    print(f"tolerances: {tolerances_text(config)}")
    counts: dict[str, int] = {}
    results = [diff_scenario(old.scenarios[nodeid], new.scenarios[nodeid], policy) for nodeid in common]
    rows = [_row(result, new.scenarios[result.id]) for result in results]
    rows += [CompareRow(printable(nodeid), "removed", False) for nodeid in removed]
    rows += [
        CompareRow(printable(nodeid), "added", False, _cells((), new.scenarios[nodeid])) for nodeid in added
    ]
    if rows:
        print()
        for line in format_table(table_rows(sort_rows(rows, args.sort, args.columns), args.columns)):
            print(line)
        if any(cell.mark for row in rows for cell in row.cells.values()) or any(r.failing for r in rows):
            print(LEGEND)
        print()
    for result in results:  # the prose for what is not a plain pass
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
        if result.outcome != Outcome.PASS.value or result.too_few:
            print("\n".join(diff_lines(result)))
    for nodeid in removed:
        print(f"{nodeid}: removed (only in OLD)")
    for nodeid in added:
        print(f"{nodeid}: added (only in NEW)")
    counts.update({"removed": len(removed), "added": len(added)})
    print(", ".join(f"{n} {what}" for what, n in counts.items() if n) or "nothing to compare")
    return EXIT_REGRESSION if counts.get("regression") else EXIT_OK
