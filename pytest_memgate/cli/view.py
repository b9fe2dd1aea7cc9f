"""``memgate show`` and ``memgate report``: a baseline or a report, for people."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from ..backends.sites import EXTERNAL
from ..errors import MemgateError
from ..model import AllocSite, RunStatus
from ..reports.document import fails, failure_reason
from ..units import format_size, plural
from .documents import EXIT_OK, EXIT_REGRESSION, Document, Scenario, load_document
from .documents import size_text as _size

# --- memgate show ------------------------------------------------------------------------


def _recorded(recorded: dict[str, Any]) -> str:
    date = str(recorded.get("date") or "")
    commit = str(recorded.get("commit") or "")[:12]
    dirty = "(dirty)" if recorded.get("dirty") is True else ""
    return " ".join(part for part in (date, commit, dirty) if part) or "-"


def show_lines(doc: Document) -> list[str]:
    """The table of a document: one row per scenario, medians over its successful runs."""
    from ..reports.terminal import format_table

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
    from .diff import project_file

    path = args.path
    if path is None:  # the project's baseline, as the plugin finds it
        found = project_file(args.config)
        assert found is not None  # a baseline always has a path
        path = found.path
        print(f"reading {path} ({found.source})", file=sys.stderr if args.json else sys.stdout)
    doc = load_document(path)
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


# --- memgate report ----------------------------------------------------------------------

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
        lines.append(f"    {amount} in {plural(site.count, 'allocation')}: {site.location}")
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
    why = {str(raw.get("id")): failure_reason(raw) for raw in doc.raw.get("scenarios") or ()}
    for nodeid in sorted(doc.scenarios):
        scenario = doc.scenarios[nodeid]
        if scenario.verdict == "pass" and not scenario.notes:
            continue
        reason = why.get(nodeid)
        lines += ["", f"{nodeid}: {scenario.verdict or '-'}" + (f" ({reason})" if reason else "")]
        lines += [f"  {line}".rstrip() for line in scenario.message.splitlines()]
        lines += [f"  note: {note}" for note in scenario.notes]
        if scenario.verdict in _WITH_SITES:
            lines += sites_lines(scenario)
    return lines


def _find_flamegraph(shown: str, report: Path) -> Path | None:
    """A flame graph the report names, relative to the rootdir it was written from (the
    current directory or one above the report), else by its name beside the report."""
    name = PurePosixPath(shown)
    if shown.startswith(f"{EXTERNAL}/") or name.is_absolute() or ".." in name.parts:
        candidates = []
    else:
        candidates = [base / name for base in (Path.cwd(), *report.resolve().parents)]
    beside = report.resolve().parent
    candidates += [*sorted(beside.glob(f"*-flamegraphs/{name.name}")), beside / name.name]
    return next((path for path in candidates if path.is_file()), None)


def flamegraph_links(
    document: Mapping[str, Any], report: Path, page_dir: Path
) -> tuple[dict[str, str], list[tuple[str, Path]]]:
    """Links, relative to the page, to the flame graphs a saved report kept; and those found
    outside the page's directory, which a page does not link (it reaches nothing above it)."""
    links: dict[str, str] = {}
    unlinked: list[tuple[str, Path]] = []
    for scenario in document.get("scenarios") or ():
        if not isinstance(scenario, Mapping) or not isinstance(scenario.get("flamegraph"), str):
            continue
        found = _find_flamegraph(scenario["flamegraph"], report)
        if found is None:
            continue
        nodeid = str(scenario.get("id", ""))
        try:
            links[nodeid] = found.resolve().relative_to(page_dir).as_posix()
        except ValueError:
            unlinked.append((nodeid, found))
    return links, unlinked


def cmd_report(args: argparse.Namespace) -> int:
    """A report for people; exit 1 when the run failed a scenario's test (``document.fails``)."""
    doc = load_document(args.path)
    if doc.kind != "report":
        raise MemgateError(
            f"memgate: {args.path} is a baseline; `memgate report` reads a --memgate-report file"
        )
    if args.format == "text":
        text = "\n".join(report_lines(doc)) + "\n"
    else:  # the raw document, checked by load_document (``reports.schema``)
        raw = doc.raw
        if args.format == "md":
            from ..reports.markdown import render_markdown

            text = render_markdown(raw) + "\n"
        else:
            from ..reports.html import render_html

            page_dir = (args.output.parent if args.output is not None else Path.cwd()).resolve()
            links, unlinked = flamegraph_links(raw, args.path, page_dir)
            text = render_html(raw, flamegraphs=links)
            for nodeid, found in unlinked:
                print(
                    f"memgate: flame graph of {nodeid} not linked: {found} is not under the page's "
                    f"directory {page_dir}; write the page there with -o {found.parent.parent}/PAGE.html",
                    file=sys.stderr,
                )
    if args.output is None:
        sys.stdout.write(text)
    else:
        from ..files import write_atomic

        try:
            write_atomic(args.output, text)
        except OSError as exc:
            raise MemgateError(
                f"memgate: cannot write {args.output}: {exc.strerror}; check the path"
            ) from None
        print(f"wrote {args.output}")
    failing = sum(fails(raw) for raw in doc.raw["scenarios"])
    return EXIT_REGRESSION if failing else EXIT_OK
