"""``memgate``: read baselines and reports outside pytest.

``memgate show PATH`` prints what a baseline or a ``--memgate-report`` file holds;
``memgate diff OLD NEW`` compares two of them with the statistics the plugin gates on.
This module never imports pytest: it has to work where only the files are. The
statistics (numpy and scipy) are imported by the commands that use them, so ``--help``
and error messages come back at once.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .baseline import parse_baseline
from .config import OPTIONS_BY_KEY, GateConfig, parse_probability
from .errors import MemgateError
from .files import decode_json, read_document_text
from .model import RunRecord, RunSummary
from .reports.json import REPORT_VERSION
from .units import format_size

if TYPE_CHECKING:
    from .results import Finding
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


@dataclass(frozen=True, slots=True)
class Document:
    path: Path
    kind: str  # "baseline" or "report"
    memgate_version: str
    scenarios: dict[str, Scenario]


def load_document(path: Path) -> Document:
    """Read a baseline or a report, telling which it is from its shape."""
    if not path.exists():
        raise MemgateError(f"memgate: {path} does not exist; {_WHAT_TO_PASS}")
    if path.is_dir():
        raise MemgateError(f"memgate: {path} is a directory; {_WHAT_TO_PASS}")
    text = read_document_text(path, "", _WHAT_TO_PASS)
    document = decode_json(text, path, f"restore it from git or {_WHAT_TO_PASS}")
    scenarios = document.get("scenarios") if isinstance(document, dict) else None
    if isinstance(scenarios, dict):
        return _from_baseline(text, path)
    if isinstance(scenarios, list) and ("report_version" in document or "memgate_version" in document):
        return _from_report(document, path)
    raise MemgateError(f"memgate: {path} is JSON but not a memgate baseline or report; {_WHAT_TO_PASS}")


def _from_baseline(text: str, path: Path) -> Document:
    baseline = parse_baseline(text, path)  # checks the schema version and every entry
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


def _from_report(document: dict[str, Any], path: Path) -> Document:
    from .metrics import summarize_run

    version = document.get("report_version", REPORT_VERSION)
    if not isinstance(version, int) or version > REPORT_VERSION:
        raise MemgateError(
            f"memgate: report {path} has report_version {version!r}, this memgate reads up to "
            f"{REPORT_VERSION}; upgrade pytest-memgate"
        )
    scenarios: dict[str, Scenario] = {}
    for index, raw in enumerate(document["scenarios"]):
        name = raw.get("id", f"#{index}") if isinstance(raw, dict) else f"#{index}"
        try:
            records = [RunRecord.from_dict(r) for r in raw["run_records"]]
            nodeid = str(raw["id"])
            backend = str(raw.get("backend") or (records[0].backend if records else ""))
            scenarios[nodeid] = Scenario(
                id=nodeid,
                backend=backend,
                runs=tuple(summarize_run(r) for r in records if r.ok),
                run_count=len(records),
                verdict=str(raw.get("verdict", "")) or None,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MemgateError(
                f"memgate: report {path}: scenario {name!r} is malformed ({exc!r}); "
                "write the report again with --memgate-report"
            ) from None
    return Document(path, "report", str(document.get("memgate_version", "")), scenarios)


# --- memgate show ------------------------------------------------------------------------


def _size(value: float | None, *, signed: bool = False, per_call: bool = False) -> str:
    if value is None:
        return "-"
    return format_size(value, signed=signed) + ("/call" if per_call else "")


def _recorded(recorded: dict[str, Any]) -> str:
    date = str(recorded.get("date") or "")
    commit = str(recorded.get("commit") or "")[:12]
    return " ".join(part for part in (date, commit) if part) or "-"


def cmd_show(args: argparse.Namespace) -> int:
    from .reports.terminal import format_table

    doc = load_document(args.path)
    scenarios = [doc.scenarios[k] for k in sorted(doc.scenarios)]
    if args.json:
        normalized = {
            "path": str(doc.path),
            "kind": doc.kind,
            "memgate_version": doc.memgate_version,
            "scenarios": [s.to_dict() for s in scenarios],
        }
        print(json.dumps(normalized, indent=2, sort_keys=True))
        return EXIT_OK
    version = f", written by memgate {doc.memgate_version}" if doc.memgate_version else ""
    print(f"{doc.kind} {doc.path}: {len(scenarios)} scenario(s){version}")
    if not scenarios:
        return EXIT_OK
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
    print("\n".join(format_table(rows)))
    print("figures are medians over the successful runs")
    return EXIT_OK


# --- memgate diff ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScenarioDiff:
    id: str
    outcome: str  # an Outcome value, or "not compared"
    findings: tuple[Finding, ...]  # the ones that explain the outcome
    note: str = ""


def diff_scenario(old: Scenario, new: Scenario, policy: Policy) -> ScenarioDiff:
    """NEW's runs against OLD's runs, judged as the plugin judges a final verdict."""
    from .results import Outcome
    from .verdict import compare_runs

    if old.backend and new.backend and old.backend != new.backend:
        return ScenarioDiff(
            old.id,
            "not compared",
            (),
            f"OLD was measured with {old.backend}, NEW with {new.backend}; figures from different "
            "backends are not comparable",
        )
    for label, side in (("OLD", old), ("NEW", new)):
        if not side.runs:
            return ScenarioDiff(old.id, "not compared", (), f"{label} has no successful runs")
    findings = compare_runs(new.runs, old.runs, policy)
    regressed = tuple(f for f in findings if f.regressed)
    if regressed:
        return ScenarioDiff(old.id, Outcome.REGRESSION.value, regressed)
    unclear = tuple(f for f in findings if f.suspected)
    if unclear:
        return ScenarioDiff(old.id, Outcome.INCONCLUSIVE.value, unclear, "more runs are needed to decide")
    improved = tuple(f for f in findings if f.improved)
    if improved:
        return ScenarioDiff(old.id, Outcome.IMPROVED.value, improved)
    return ScenarioDiff(old.id, Outcome.PASS.value, ())


def cmd_diff(args: argparse.Namespace) -> int:
    from .reports.words import finding_text
    from .verdict import COMPARISONS, Policy

    old, new = load_document(args.old), load_document(args.new)
    common = sorted(set(old.scenarios) & set(new.scenarios))
    removed = sorted(set(old.scenarios) - set(new.scenarios))
    added = sorted(set(new.scenarios) - set(old.scenarios))
    policy = Policy.from_config(GateConfig(alpha=args.alpha), tests=max(len(common), 1) * COMPARISONS)
    print(
        f"memgate diff: OLD {old.kind} {old.path} -> NEW {new.kind} {new.path}; false-alarm rate "
        f"{args.alpha:g} over {len(common)} common scenario(s) x {COMPARISONS} metrics = "
        f"{policy.alpha:.2g} per test"
    )
    counts: dict[str, int] = {}
    for nodeid in common:
        result = diff_scenario(old.scenarios[nodeid], new.scenarios[nodeid], policy)
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
        print(f"{nodeid}: {result.outcome}" + (f" ({result.note})" if result.note else ""))
        for finding in result.findings:
            print(f"  {finding_text(finding)}.")
    for nodeid in removed:
        print(f"{nodeid}: removed (only in OLD)")
    for nodeid in added:
        print(f"{nodeid}: added (only in NEW)")
    counts.update({"removed": len(removed), "added": len(added)})
    print(", ".join(f"{n} {what}" for what, n in counts.items() if n) or "nothing to compare")
    return EXIT_REGRESSION if counts.get("regression") else EXIT_OK


# --- memgate report ----------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    """A report for people: the table, then what each non-passing scenario said."""
    doc = load_document(args.path)
    if doc.kind != "report":
        raise MemgateError(
            f"memgate: {args.path} is a baseline; `memgate report` reads a --memgate-report file"
        )
    cmd_show(argparse.Namespace(path=args.path, json=False))
    raw = json.loads(args.path.read_text(encoding="utf-8"))
    failing = 0
    for scenario in raw["scenarios"]:
        if scenario.get("verdict") in ("regression", "error"):
            failing += 1
        if scenario.get("verdict") != "pass" or scenario.get("notes"):
            print(f"\n{scenario['id']}: {scenario.get('verdict')}")
            print(f"  {scenario.get('message', '')}")
            for note in scenario.get("notes", ()):
                print(f"  note: {note}")
    return EXIT_REGRESSION if failing else EXIT_OK


# --- changing a baseline: accept, prune, rename ------------------------------------------


def _matching(ids: Sequence[str], patterns: Sequence[str]) -> list[str]:
    return sorted(i for i in ids if any(fnmatch.fnmatchcase(i, p) for p in patterns))


def cmd_accept(args: argparse.Namespace) -> int:
    """Write a report's figures for the named scenarios into the baseline, with the reason."""
    from .baseline import acceptance, entry_from_report, load_baseline, update_baseline
    from .branches import provenance

    if not args.reason.strip():
        raise MemgateError('memgate: accept needs --reason "..." saying why more memory is intended')
    if load_document(args.report).kind != "report":
        raise MemgateError(f"memgate: {args.report} is not a --memgate-report file; accept reads one")
    raw = json.loads(args.report.read_text(encoding="utf-8"))
    by_id = {str(s["id"]): s for s in raw["scenarios"]}
    chosen = _matching(list(by_id), args.scenarios)
    if not chosen:
        raise MemgateError(
            f"memgate: no scenario in {args.report} matches {' '.join(args.scenarios)}; "
            f"it has: {', '.join(sorted(by_id)) or 'none'}"
        )
    baseline = load_baseline(args.baseline)
    changes = {}
    for nodeid in chosen:
        previous = baseline.get(nodeid)
        recorded = provenance(Path.cwd(), __version__, None)
        recorded["accepted"] = acceptance(args.reason.strip(), previous)
        changes[nodeid] = entry_from_report(by_id[nodeid], raw.get("environment") or {}, recorded)
    update_baseline(args.baseline, changes, __version__)
    for nodeid in chosen:
        print(f"accepted {nodeid} into {args.baseline}: {args.reason.strip()}")
    return EXIT_OK


def cmd_prune(args: argparse.Namespace) -> int:
    """Remove scenarios that no longer exist: named ones, or those missing from a report."""
    from .baseline import load_baseline, update_baseline

    baseline = load_baseline(args.baseline)
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
    from .baseline import load_baseline, update_baseline

    baseline = load_baseline(args.baseline)
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


def _alpha(value: str) -> float:
    try:
        return parse_probability(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


Command = Callable[[argparse.Namespace], int]

COMMANDS: dict[str, Command] = {
    "show": cmd_show,
    "diff": cmd_diff,
    "report": cmd_report,
    "accept": cmd_accept,
    "prune": cmd_prune,
    "rename": cmd_rename,
}


def build_parser() -> argparse.ArgumentParser:
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

    alpha_default = OPTIONS_BY_KEY["alpha"].default
    diff = sub.add_parser(
        "diff",
        help="compare two baselines or reports with the gate's statistics",
        description="Compare NEW's runs against OLD's runs for every scenario in both, with the "
        "tests and tolerances the plugin uses (default tolerances). Files may be baselines, "
        "reports, or one of each. Exits 1 when any scenario regressed.",
    )
    diff.add_argument("old", type=Path, metavar="OLD", help="the reference baseline or report")
    diff.add_argument("new", type=Path, metavar="NEW", help="the baseline or report to judge")
    diff.add_argument(
        "--alpha",
        type=_alpha,
        default=alpha_default,
        help=f"false-alarm rate over all common scenarios, Bonferroni-corrected (default {alpha_default:g})",
    )
    report = sub.add_parser(
        "report",
        help="render a --memgate-report file for people",
        description="Print a report's table and the message of every scenario that did not "
        "simply pass. Exits 1 when the report holds a regression or an error.",
    )
    report.add_argument("path", type=Path, metavar="REPORT", help="a --memgate-report JSON file")

    accept = sub.add_parser(
        "accept",
        help="record an intended increase from a report into the baseline",
        description="Write the figures a --memgate-report measured for the named scenarios into "
        "the baseline, with the reason and the previous figures, so the raise is on record.",
    )
    accept.add_argument("baseline", type=Path, metavar="BASELINE")
    accept.add_argument("report", type=Path, metavar="REPORT")
    accept.add_argument("scenarios", nargs="+", metavar="ID_OR_GLOB")
    accept.add_argument("--reason", required=True, help="why the scenario may use more memory")

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code (the console script exits with it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_ERROR)
    try:
        return COMMANDS[args.command](args)
    except MemgateError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
