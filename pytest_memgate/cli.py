"""``memgate``: read baselines and reports outside pytest.

``memgate show PATH`` prints what a baseline or a ``--memgate-report`` file holds;
``memgate diff OLD NEW`` compares two of them with the statistics and the project's
``[tool.memgate]`` tolerances the plugin gates on; ``report``, ``accept``, ``prune`` and
``rename`` render a report and change a baseline. Every file is read and checked once, by
``load_document``, so that an odd file is one clean line and exit 2, never a traceback.
This module never imports pytest: it has to work where only the files are. The
statistics (numpy and scipy) are imported by the commands that use them, so ``--help``
and error messages come back at once.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import math
import os
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .baseline import parse_baseline
from .config import (
    OPTIONS_BY_KEY,
    GateConfig,
    Option,
    read_pyproject_table,
    resolve_config,
)
from .errors import MemgateError
from .files import decode_json, read_document_text
from .model import AllocSite, RunRecord, RunStatus, RunSummary
from .reports.json import REPORT_VERSION
from .results import Finding, Metric, Outcome
from .units import format_size

if TYPE_CHECKING:
    from .baseline import Baseline
    from .verdict import Policy

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_ERROR = 2

_WHAT_TO_PASS = "pass a baseline file (such as .memgate/baseline.json) or a file written by --memgate-report"


# --- reading files -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scenario as both file kinds describe it; ``runs`` holds the successful runs only."""

    id: str
    backend: str
    runs: tuple[RunSummary, ...]
    run_count: int  # every run, including ones that failed (reports only)
    verdict: str | None = None  # reports only
    recorded: dict[str, Any] = field(default_factory=dict)  # baselines only
    # reports only: what the plugin said, and the raw runs (for sites and ``accept``)
    message: str = ""
    notes: tuple[str, ...] = ()
    spec: dict[str, Any] = field(default_factory=dict)
    records: tuple[RunRecord, ...] = ()

    def median(self, attribute: str) -> float | None:
        values = [getattr(r, attribute) for r in self.runs]
        return float(statistics.median(values)) if values else None

    def to_dict(self) -> dict[str, Any]:
        peak = self.median("peak_heap_bytes")
        rss_peak = self.median("peak_rss_bytes")
        return {
            "id": self.id,
            "backend": self.backend,
            "verdict": self.verdict,
            "heap_peak_bytes": None if peak is None else round(peak),
            "heap_growth_bytes_per_call": self.median("heap_growth"),
            "rss_peak_bytes": None if rss_peak is None else round(rss_peak),
            "rss_growth_bytes_per_call": self.median("rss_growth"),
            "runs": self.run_count,
            "successful_runs": len(self.runs),
            "recorded": self.recorded,
            "run_summaries": [r.to_dict() for r in self.runs],
        }

    def report_entry(self) -> dict[str, Any]:
        """The scenario as a report holds it, for ``baseline.entry_from_report``."""
        return {"id": self.id, "spec": self.spec, "run_records": [r.to_dict() for r in self.records]}


@dataclass(frozen=True, slots=True)
class Document:
    path: Path
    kind: str  # "baseline" or "report"
    memgate_version: str
    scenarios: dict[str, Scenario]
    environment: dict[str, Any] = field(default_factory=dict)  # reports only


def load_document(path: Path) -> Document:
    """Read and check a baseline or a report, telling which it is from its shape.

    The one way the commands read a file: everything they use later is checked here, so
    an odd document is one clean error (exit 2), never a traceback halfway through.
    """
    if not path.exists():
        raise MemgateError(f"memgate: {path} does not exist; {_WHAT_TO_PASS}")
    if path.is_dir():
        raise MemgateError(f"memgate: {path} is a directory; {_WHAT_TO_PASS}")
    text = read_document_text(path, "", _WHAT_TO_PASS)
    document = decode_json(text, path, f"restore it from git or {_WHAT_TO_PASS}")
    scenarios = document.get("scenarios") if isinstance(document, dict) else None
    if isinstance(scenarios, dict) or (isinstance(document, dict) and "schema_version" in document):
        return _from_baseline(text, path)  # checks that scenarios is a table
    if isinstance(scenarios, list) and ("report_version" in document or "memgate_version" in document):
        return _from_report(document, path)
    raise MemgateError(f"memgate: {path} is JSON but not a memgate baseline or report; {_WHAT_TO_PASS}")


def _check_finite(runs: Sequence[RunSummary]) -> None:
    for number, run in enumerate(runs, 1):
        for name, value in run.to_dict().items():
            if not math.isfinite(value):
                raise ValueError(f"run {number} has {name} = {value}, not a finite number")


def _from_baseline(text: str, path: Path) -> Document:
    try:
        baseline = parse_baseline(text, path)  # checks the schema version and every entry
        for nodeid, entry in baseline.entries.items():
            try:
                _check_finite(entry.runs)
            except ValueError as exc:
                raise MemgateError(
                    f"memgate: baseline {path}: entry {nodeid!r} is malformed ({exc}); restore it from "
                    "git or re-record it with --memgate-update"
                ) from None
    except ArithmeticError as exc:  # a number such as 1e400 where a whole number belongs
        raise MemgateError(
            f"memgate: baseline {path} holds a number out of range ({exc}); restore it from git or "
            "re-record it with --memgate-update"
        ) from None
    scenarios = {
        nodeid: Scenario(
            id=nodeid,
            backend=entry.backend,
            runs=entry.runs,
            run_count=len(entry.runs),
            recorded=entry.recorded,
        )
        for nodeid, entry in baseline.entries.items()
    }
    return Document(path, "baseline", baseline.memgate_version, scenarios)


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else "null"


def _optional(raw: dict[str, Any], key: str, kind: type[Any], default: Any) -> Any:
    """A field that may be missing or null, but has the right JSON type when present."""
    value = raw.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise ValueError(f"{key!r} is {_json_kind(value)}, not {_json_kind(kind())}")
    return value


def _report_scenario(raw: object) -> Scenario:
    from .metrics import summarize_run

    if not isinstance(raw, dict):
        raise ValueError(f"it is {_json_kind(raw)}, not an object")
    if not isinstance(raw.get("id"), str):
        raise ValueError("it has no 'id' text")
    if not isinstance(raw.get("run_records"), list):
        raise ValueError("it has no 'run_records' list")
    records = tuple(RunRecord.from_dict(r) for r in raw["run_records"])
    notes = _optional(raw, "notes", list, [])
    if not all(isinstance(note, str) for note in notes):
        raise ValueError("'notes' holds something other than text")
    runs = tuple(summarize_run(r) for r in records if r.ok)
    _check_finite(runs)
    return Scenario(
        id=raw["id"],
        backend=_optional(raw, "backend", str, "") or (records[0].backend if records else ""),
        runs=runs,
        run_count=len(records),
        verdict=_optional(raw, "verdict", str, "") or None,
        message=_optional(raw, "message", str, ""),
        notes=tuple(notes),
        spec=dict(_optional(raw, "spec", dict, {})),
        records=records,
    )


def _from_report(document: dict[str, Any], path: Path) -> Document:
    fix = "write the report again with --memgate-report"
    version = document.get("report_version", REPORT_VERSION)
    if not isinstance(version, int) or version > REPORT_VERSION:
        raise MemgateError(
            f"memgate: report {path} has report_version {version!r}, this memgate reads up to "
            f"{REPORT_VERSION}; upgrade pytest-memgate"
        )
    environment = document.get("environment") or {}
    if not isinstance(environment, dict):
        raise MemgateError(f"memgate: report {path}: 'environment' is not an object; {fix}")
    scenarios: dict[str, Scenario] = {}
    for index, raw in enumerate(document["scenarios"]):
        name = raw.get("id", f"#{index + 1}") if isinstance(raw, dict) else f"#{index + 1}"
        try:
            scenario = _report_scenario(raw)
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            detail = str(exc) if isinstance(exc, ValueError) else repr(exc)
            raise MemgateError(
                f"memgate: report {path}: scenario {name!r} is malformed ({detail}); {fix}"
            ) from None
        if scenario.id in scenarios:
            raise MemgateError(f"memgate: report {path}: scenario {scenario.id!r} appears twice; {fix}")
        scenarios[scenario.id] = scenario
    return Document(path, "report", str(document.get("memgate_version", "")), scenarios, environment)


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


def _fraction(value: float) -> str:
    return f"{value * 100:g}%"


def tolerances_text(config: GateConfig) -> str:
    """The practical sizes a change must exceed, as ``memgate diff`` applies them."""
    return (
        f"heap peak > {_fraction(config.peak_tolerance)} and {format_size(config.peak_min_bytes)}, "
        f"heap growth > {format_size(config.growth_tolerance)}/call, "
        f"RSS peak > {_fraction(config.rss_peak_tolerance)} and {format_size(config.rss_peak_min_bytes)}, "
        f"RSS growth > {format_size(config.rss_growth_tolerance)}/call"
    )


# --- memgate show ------------------------------------------------------------------------


def _size(value: float | None, *, signed: bool = False, per_call: bool = False) -> str:
    if value is None:
        return "-"
    return format_size(value, signed=signed) + ("/call" if per_call else "")


def _recorded(recorded: dict[str, Any]) -> str:
    date = str(recorded.get("date") or "")
    commit = str(recorded.get("commit") or "")[:12]
    dirty = "(dirty)" if recorded.get("dirty") is True else ""
    return " ".join(part for part in (date, commit, dirty) if part) or "-"


def show_lines(doc: Document) -> list[str]:
    """The table of a document: one row per scenario, medians over its successful runs."""
    from .reports.terminal import format_table

    scenarios = [doc.scenarios[k] for k in sorted(doc.scenarios)]
    version = f", written by memgate {doc.memgate_version}" if doc.memgate_version else ""
    lines = [f"{doc.kind} {doc.path}: {len(scenarios)} scenario(s){version}"]
    if not scenarios:
        return lines
    is_baseline = doc.kind == "baseline"
    header = ["scenario", "backend" if is_baseline else "verdict", "heap peak", "heap growth", "RSS peak"]
    header += ["RSS growth", "runs"] + (["recorded"] if is_baseline else [])
    rows = [header]
    for s in scenarios:
        runs = str(s.run_count) if len(s.runs) == s.run_count else f"{len(s.runs)}/{s.run_count} ok"
        row = [
            s.id,
            s.backend if is_baseline else (s.verdict or "-"),
            _size(s.median("peak_heap_bytes")),
            _size(s.median("heap_growth"), signed=True, per_call=True),
            _size(s.median("peak_rss_bytes")),
            _size(s.median("rss_growth"), signed=True, per_call=True),
            runs,
        ]
        rows.append(row + ([_recorded(s.recorded)] if is_baseline else []))
    return [*lines, *format_table(rows), "figures are medians over the successful runs"]


def cmd_show(args: argparse.Namespace) -> int:
    doc = load_document(args.path)
    if args.json:
        normalized = {
            "path": str(doc.path),
            "kind": doc.kind,
            "memgate_version": doc.memgate_version,
            "scenarios": [doc.scenarios[k].to_dict() for k in sorted(doc.scenarios)],
        }
        print(json.dumps(normalized, indent=2, sort_keys=True))
        return EXIT_OK
    print("\n".join(show_lines(doc)))
    return EXIT_OK


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


def _runs(n: int) -> str:
    return f"{n} successful run{'' if n == 1 else 's'}"


def diff_scenario(old: Scenario, new: Scenario, policy: Policy) -> ScenarioDiff:
    """NEW's runs against OLD's runs, judged as the plugin judges a final verdict."""
    from .verdict import compare_runs

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
    findings = compare_runs(new.runs, old.runs, policy)

    # A comparison with too few runs has no test; it is said so, never silently dropped.
    def lacks_runs(f: Finding) -> bool:
        return f.comparison is not None and f.comparison.insufficient_data

    too_few = tuple(f for f in findings if lacks_runs(f))
    usable = [f for f in findings if not lacks_runs(f)]
    regressed = tuple(f for f in usable if f.regressed)
    unclear = tuple(f for f in usable if f.suspected)
    if regressed:
        return ScenarioDiff(old.id, Outcome.REGRESSION.value, regressed, unproven=unclear, too_few=too_few)
    if unclear:
        note = "more runs are needed to decide"
        return ScenarioDiff(old.id, Outcome.INCONCLUSIVE.value, unclear, note, too_few=too_few)
    if too_few and len(too_few) == len(findings):
        note = (
            f"not enough runs: OLD has {_runs(len(old.runs))}, NEW {len(new.runs)}; a comparison "
            "needs at least 3 between them"
        )
        return ScenarioDiff(old.id, NOT_COMPARED, (), note, too_few=too_few)
    improved = tuple(f for f in usable if f.improved)
    if improved:
        return ScenarioDiff(old.id, Outcome.IMPROVED.value, improved, too_few=too_few)
    return ScenarioDiff(old.id, Outcome.PASS.value, (), too_few=too_few)


def too_few_text(finding: Finding) -> str:
    """A metric with too few runs for a test: what each side measured, and no verdict."""
    c = finding.comparison
    assert c is not None  # only baseline comparisons can lack runs
    per_call = finding.metric in (Metric.HEAP_GROWTH, Metric.RSS_GROWTH)
    old, new = (_size(v, signed=per_call, per_call=per_call) for v in (c.baseline, c.current))
    return f"not enough runs to compare {finding.metric.value}: {old} in OLD, {new} in NEW"


def diff_lines(result: ScenarioDiff) -> list[str]:
    from .reports.words import finding_text

    lines = [f"{result.id}: {result.outcome}" + (f" ({result.note})" if result.note else "")]
    lines += [f"  {finding_text(f)}." for f in result.findings]
    if result.unproven:
        lines.append("  also past its tolerance, not yet proven:")
        lines += [f"  {finding_text(f)}." for f in result.unproven]
    lines += [f"  {too_few_text(f)}." for f in result.too_few]
    return lines


def _policy_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {key: getattr(args, key) for key in POLICY_KEYS}


def cmd_diff(args: argparse.Namespace) -> int:
    from .verdict import COMPARISONS, Policy

    old, new = load_document(args.old), load_document(args.new)
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
    for nodeid in common:
        result = diff_scenario(old.scenarios[nodeid], new.scenarios[nodeid], policy)
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
        print("\n".join(diff_lines(result)))
    for nodeid in removed:
        print(f"{nodeid}: removed (only in OLD)")
    for nodeid in added:
        print(f"{nodeid}: added (only in NEW)")
    counts.update({"removed": len(removed), "added": len(added)})
    print(", ".join(f"{n} {what}" for what, n in counts.items() if n) or "nothing to compare")
    return EXIT_REGRESSION if counts.get("regression") else EXIT_OK


# --- memgate report ----------------------------------------------------------------------

_FAILING = ("regression", "error")
_WITH_SITES = ("regression", "error", "inconclusive")
_SITES_SHOWN = 5


def _site_lines(title: str, sites: Sequence[AllocSite], per_call: int) -> list[str]:
    if not sites:
        return []
    lines = [f"  {title}"]
    for site in sites[:_SITES_SHOWN]:
        amount = format_size(site.size_bytes)
        if per_call > 1:
            amount += f" = {format_size(site.size_bytes / per_call)}/call"
        lines.append(f"    {amount} in {site.count} allocations: {site.location}")
    return lines


def sites_lines(scenario: Scenario) -> list[str]:
    """Where run 1's memory was: alive at its peak (or when it was stopped), and retained."""
    if not scenario.records:
        return []
    record = scenario.records[0]
    if record.status is RunStatus.HARD_CAP:
        peak_title = "Largest allocations alive when run 1 was stopped:"
    else:
        peak_title = "Largest allocations alive at the heap peak (run 1):"
    retained_title = f"Memory still allocated after the {record.iterations} measured calls (run 1):"
    blocks = [
        _site_lines(peak_title, record.peak_sites, 1),
        _site_lines(retained_title, record.retained_sites, record.iterations),
    ]
    lines = [line for block in blocks if block for line in ["", *block]]
    if not lines and record.limitations:
        lines = ["", *(f"  {text}" for text in record.limitations)]
    return lines


def report_lines(doc: Document) -> list[str]:
    """A report for people: the table, then what each scenario that did not simply pass said,
    with its allocation sites when it did not pass. Lines, so other formats can reuse it."""
    lines = show_lines(doc)
    for nodeid in sorted(doc.scenarios):
        scenario = doc.scenarios[nodeid]
        if scenario.verdict == "pass" and not scenario.notes:
            continue
        lines += ["", f"{nodeid}: {scenario.verdict or '-'}"]
        lines += [f"  {line}".rstrip() for line in scenario.message.splitlines()]
        lines += [f"  note: {note}" for note in scenario.notes]
        if scenario.verdict in _WITH_SITES:
            lines += sites_lines(scenario)
    return lines


def cmd_report(args: argparse.Namespace) -> int:
    """A report for people; exit 1 when it holds a regression or an error."""
    doc = load_document(args.path)
    if doc.kind != "report":
        raise MemgateError(
            f"memgate: {args.path} is a baseline; `memgate report` reads a --memgate-report file"
        )
    if args.format == "text":
        text = "\n".join(report_lines(doc)) + "\n"
    else:  # the raw document, already checked by load_document
        raw = decode_json(read_document_text(args.path, "", _WHAT_TO_PASS), args.path, _WHAT_TO_PASS)
        if args.format == "md":
            from .reports.markdown import render_markdown

            text = render_markdown(raw) + "\n"
        else:
            from .reports.html import render_html

            text = render_html(raw)
    if args.output is None:
        sys.stdout.write(text)
    else:
        from .files import write_atomic

        try:
            write_atomic(args.output, text)
        except OSError as exc:
            raise MemgateError(
                f"memgate: cannot write {args.output}: {exc.strerror}; check the path"
            ) from None
        print(f"wrote {args.output}")
    failing = sum(s.verdict in _FAILING for s in doc.scenarios.values())
    return EXIT_REGRESSION if failing else EXIT_OK


# --- changing a baseline: accept, prune, rename ------------------------------------------


def _matching(ids: Sequence[str], patterns: Sequence[str]) -> list[str]:
    return sorted(i for i in ids if any(fnmatch.fnmatchcase(i, p) for p in patterns))


def _existing_baseline(path: Path) -> Baseline:
    """A baseline that must exist already: pruning or renaming in a missing file is a typo."""
    from .baseline import load_baseline

    if not path.exists():
        raise MemgateError(
            f"memgate: baseline {path} does not exist; pass the baseline file, such as .memgate/baseline.json"
        )
    return load_baseline(path)


def runs_note(runs: int, wanted: int) -> str:
    """What an accepted entry of few runs says about itself, in the entry and the output."""
    return (
        f"{runs} run(s) from a --memgate-report, fewer than baseline_runs = {wanted}: comparisons "
        f"against this entry are weaker until it is re-recorded with pytest --memgate --memgate-update"
    )


def _provenance_text(recorded: Mapping[str, Any], branch_source: str) -> str:
    branch = recorded.get("branch")
    parts = [f"branch {branch} ({branch_source})" if branch else f"no branch: {branch_source}"]
    commit = recorded.get("commit")
    parts.append(f"commit {str(commit)[:12]}" if commit else "no commit (not a git checkout)")
    if recorded.get("dirty") is True:
        parts.append("working tree with uncommitted changes (recorded as dirty)")
    return ", ".join(parts)


def cmd_accept(args: argparse.Namespace) -> int:
    """Write a report's figures for the named scenarios into the baseline, with the reason."""
    from .baseline import acceptance, entry_from_report, load_baseline, update_baseline
    from .branches import current_branch, provenance

    reason = args.reason.strip()
    if not reason:
        raise MemgateError('memgate: accept needs --reason "..." saying why more memory is intended')
    doc = load_document(args.report)
    if doc.kind != "report":
        raise MemgateError(f"memgate: {args.report} is not a --memgate-report file; accept reads one")
    chosen = _matching(list(doc.scenarios), args.scenarios)
    if not chosen:
        raise MemgateError(
            f"memgate: no scenario in {args.report} matches {' '.join(args.scenarios)}; "
            f"it has: {', '.join(sorted(doc.scenarios)) or 'none'}"
        )
    config = load_project_config(args.config, {}).config
    wanted = min(config.baseline_runs, config.max_runs)  # as the plugin records
    baseline = load_baseline(args.baseline)
    branch = current_branch(config.rootdir)
    stamp = provenance(config.rootdir, __version__, branch.name, ignore=(args.baseline, args.report))
    changes = {}
    for nodeid in chosen:
        scenario = doc.scenarios[nodeid]
        recorded = dict(stamp)
        recorded["accepted"] = acceptance(reason, baseline.get(nodeid))
        if len(scenario.runs) < wanted:
            recorded["runs_note"] = runs_note(len(scenario.runs), wanted)
        changes[nodeid] = entry_from_report(scenario.report_entry(), doc.environment, recorded)
    update_baseline(args.baseline, changes, __version__)
    for nodeid in chosen:
        print(f"accepted {nodeid} into {args.baseline}: {reason}")
        note = changes[nodeid].recorded.get("runs_note")
        if note:
            print(f"  {note}")
    print(f"recorded: {_provenance_text(stamp, branch.source)}")
    return EXIT_OK


def cmd_prune(args: argparse.Namespace) -> int:
    """Remove scenarios that no longer exist: named ones, or those missing from a report."""
    from .baseline import update_baseline

    baseline = _existing_baseline(args.baseline)
    ids = list(baseline.entries)
    if args.keep_report is not None:
        kept = set(load_document(args.keep_report).scenarios)
        doomed = sorted(set(ids) - kept)
    elif args.scenarios:
        doomed = _matching(ids, args.scenarios)
    else:
        raise MemgateError(
            "memgate: prune needs scenario ids/globs or --keep-report REPORT (a report of a full "
            "run: every scenario not in it is removed)"
        )
    for nodeid in doomed:
        print(f"{'would remove' if args.dry_run else 'removed'} {nodeid}")
    if doomed and not args.dry_run:
        update_baseline(args.baseline, {}, __version__, remove=tuple(doomed))
    if not doomed:
        print("nothing to prune")
    return EXIT_OK


def cmd_rename(args: argparse.Namespace) -> int:
    """Carry a renamed scenario's baseline over, keeping its history."""
    from .baseline import update_baseline

    baseline = _existing_baseline(args.baseline)
    entry = baseline.get(args.old)
    if entry is None:
        raise MemgateError(
            f"memgate: {args.baseline} has no scenario {args.old!r}; "
            f"`memgate show {args.baseline}` lists them"
        )
    if args.new in baseline.entries and not args.force:
        raise MemgateError(f"memgate: {args.baseline} already has {args.new!r}; pass --force to replace it")
    update_baseline(args.baseline, {args.new: entry}, __version__, remove=(args.old,))
    print(f"renamed {args.old} -> {args.new} in {args.baseline}")
    return EXIT_OK


# --- the command line --------------------------------------------------------------------


def _option_type(option: Option) -> Callable[[str], Any]:
    """Parse a flag with the option table's parser, so the CLI and the plugin agree."""

    def parse(value: str) -> Any:
        try:
            return option.parse(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = option.key  # argparse names the type in its messages
    return parse


# How the policy flags read (names, parsing and defaults come from the option table).
_FRACTION_KEYS = ("peak_tolerance", "rss_peak_tolerance")
_SIZE_KEYS = ("peak_min_bytes", "growth_tolerance", "rss_peak_min_bytes", "rss_growth_tolerance")


def _default_text(option: Option) -> str:
    if option.key in _FRACTION_KEYS:
        return _fraction(option.default)
    if option.key in _SIZE_KEYS:
        return format_size(option.default)
    return f"{option.default:g}"


def _add_policy_flags(parser: argparse.ArgumentParser) -> None:
    for key in POLICY_KEYS:
        option = OPTIONS_BY_KEY[key]
        text = f"{option.help} (default: {key} in [tool.memgate], else {_default_text(option)})"
        parser.add_argument(
            f"--{key.replace('_', '-')}",
            dest=key,
            type=_option_type(option),
            default=None,
            metavar="SIZE" if key in _SIZE_KEYS else "FRACTION" if key in _FRACTION_KEYS else "VALUE",
            help=text.replace("%", "%%"),  # argparse %-formats help strings
        )


def _add_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        default=None,
        help="the pyproject.toml whose [tool.memgate] applies (default: the nearest one from the "
        "current directory upwards, as pytest finds it)",
    )


Command = Callable[[argparse.Namespace], int]

COMMANDS: dict[str, Command] = {
    "show": cmd_show,
    "diff": cmd_diff,
    "report": cmd_report,
    "accept": cmd_accept,
    "prune": cmd_prune,
    "rename": cmd_rename,
}


def build_parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The ``memgate`` parser, and each command's own (``parse_arguments`` uses them alone)."""
    parser = argparse.ArgumentParser(
        prog="memgate",
        description="Inspect and compare pytest-memgate baselines and --memgate-report files.",
        epilog="Exit codes: 0 ok, 1 a regression was found (diff, report), 2 usage or file error.",
    )
    parser.add_argument("--version", action="version", version=f"memgate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    show = sub.add_parser(
        "show",
        help="print the scenarios of a baseline or report",
        description="Print one row per scenario of a baseline or a --memgate-report file: "
        "medians of heap peak, heap growth per call, RSS peak and RSS growth per call.",
    )
    show.add_argument("path", type=Path, metavar="PATH", help="baseline or --memgate-report JSON file")
    show.add_argument("--json", action="store_true", help="print the normalized data as JSON instead")

    diff = sub.add_parser(
        "diff",
        help="compare two baselines or reports with the gate's statistics",
        description="Compare NEW's runs against OLD's runs for every scenario in both, with the "
        "tests the plugin uses and the tolerances of the project's [tool.memgate] (the nearest "
        "pyproject.toml, or --config), which the flags below override. Files may be baselines, "
        "reports, or one of each. Exits 1 when any scenario regressed.",
    )
    diff.add_argument("old", type=Path, metavar="OLD", help="the reference baseline or report")
    diff.add_argument("new", type=Path, metavar="NEW", help="the baseline or report to judge")
    _add_config_flag(diff)
    _add_policy_flags(diff)

    report = sub.add_parser(
        "report",
        help="render a --memgate-report file for people",
        description="Print a report's table, the message of every scenario that did not simply "
        "pass, and the allocation sites of those that failed or were unclear. Exits 1 when the "
        "report holds a regression or an error.",
    )
    report.add_argument("path", type=Path, metavar="REPORT", help="a --memgate-report JSON file")
    report.add_argument(
        "--format",
        choices=("text", "md", "html"),
        default="text",
        help="text (default), md (Markdown for a pull-request comment) or html (a self-contained page)",
    )
    report.add_argument(
        "--output", "-o", type=Path, default=None, metavar="PATH", help="write here, not stdout"
    )

    accept = sub.add_parser(
        "accept",
        help="record an intended increase from a report into the baseline",
        description="Write the figures a --memgate-report measured for the named scenarios into "
        "the baseline, with the reason, the previous figures, the branch and commit, and whether "
        "the working tree had uncommitted changes. A report usually holds fewer runs than "
        "baseline_runs: the entry and the output say so, and a re-record with "
        "pytest --memgate --memgate-update gives the entry its full runs.",
    )
    accept.add_argument("baseline", type=Path, metavar="BASELINE")
    accept.add_argument("report", type=Path, metavar="REPORT")
    accept.add_argument("scenarios", nargs="+", metavar="ID_OR_GLOB")
    accept.add_argument("--reason", required=True, help="why the scenario may use more memory")
    _add_config_flag(accept)

    prune = sub.add_parser(
        "prune",
        help="remove scenarios that no longer exist from a baseline",
        description="Remove the named scenarios (ids or globs), or with --keep-report every "
        "scenario that a report of a full run does not contain.",
    )
    prune.add_argument("baseline", type=Path, metavar="BASELINE")
    prune.add_argument("scenarios", nargs="*", metavar="ID_OR_GLOB")
    prune.add_argument("--keep-report", type=Path, metavar="REPORT", default=None)
    prune.add_argument("--dry-run", action="store_true", help="say what would go, change nothing")

    rename = sub.add_parser(
        "rename",
        help="carry a renamed scenario's baseline over",
        description="Move the baseline entry OLD to NEW (e.g. after renaming a test).",
    )
    rename.add_argument("baseline", type=Path, metavar="BASELINE")
    rename.add_argument("old", metavar="OLD")
    rename.add_argument("new", metavar="NEW")
    rename.add_argument("--force", action="store_true", help="replace an existing NEW entry")
    subparsers = {"show": show, "diff": diff, "report": report, "accept": accept, "prune": prune}
    subparsers["rename"] = rename
    return parser, subparsers


def build_parser() -> argparse.ArgumentParser:
    return build_parsers()[0]


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """Options may come before, between or after a command's positionals
    (``prune B --dry-run 'x*'``): argparse's subparsers alone cannot intermix them."""
    parser, subparsers = build_parsers()
    if argv and argv[0] in subparsers:
        args = subparsers[argv[0]].parse_intermixed_args(argv[1:])
        args.command = argv[0]
        return args
    return parser.parse_args(argv)  # --help, --version, or a usage error


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code (the console script exits with it)."""
    try:
        args = parse_arguments(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_ERROR)
    try:
        return COMMANDS[args.command](args)
    except MemgateError as exc:
        print(str(exc), file=sys.stderr)
    except BrokenPipeError:  # the reader went away (`memgate show B | head`): nothing to say
        with contextlib.suppress(OSError, ValueError):  # nor at exit, when Python flushes stdout
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as exc:  # a baseline in a read-only place, a file that vanished
        where = f" {exc.filename}" if exc.filename else ""
        print(
            f"memgate: cannot access{where}: {exc.strerror or exc}; check the path and its permissions",
            file=sys.stderr,
        )
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
