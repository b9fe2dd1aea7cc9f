"""Text for people: the failure paragraph with its allocation sites, and the summary table."""

from __future__ import annotations

from collections.abc import Sequence

from ..backends.sites import SiteKey, match_sites
from ..model import AllocSite, RunStatus
from ..results import Metric, Note, NoteKind, Outcome, Reason, ScenarioResult, SessionReport
from ..units import format_size, plural
from .compare import DEFAULT_COLUMNS, LEGEND, CompareRow, cells_from, table_rows
from .words import (
    finding_text,
    not_written_text,
    note_text,
    printable,
    scaling_text,
    skip_reason,
    verdict_message,
)


def _site_key(site: AllocSite) -> SiteKey:
    return (site.function, site.filename, site.lineno, site.stack)


def _site_line(site: AllocSite, old: AllocSite | None, compared: bool, per: int) -> str:
    if old is None:
        was = " (not in the baseline's top sites)"
    else:
        moved = f", moved from line {old.lineno}" if old.lineno != site.lineno else ""
        was = f" (baseline {format_size(old.size_bytes)}{moved})"
    amount = format_size(site.size_bytes)
    if per > 1:
        amount += f" = {format_size(site.size_bytes / per)}/call"
    where = printable(site.location) + (was if compared else "")
    return f"    {amount} in {plural(site.count, 'allocation')}: {where}"


def _sites(
    title: str, sites: Sequence[AllocSite], before: Sequence[AllocSite], per: int, limit: int = 5
) -> list[str]:
    """The sites with the baseline's figure for the same code: matched by file and
    function, so a line added above a function does not make its sites new."""
    if not sites:
        return []
    matches = match_sites([_site_key(s) for s in sites], [_site_key(s) for s in before])
    return [title] + [
        _site_line(s, None if j is None else before[j], bool(before), per)
        for s, j in zip(sites[:limit], matches)
    ]


def headline(result: ScenarioResult) -> str:
    """The failure's first line, the verdict in a few words: pytest's short summary shows it."""
    outcome, nodeid = result.outcome, printable(result.nodeid)
    if outcome is Outcome.REGRESSION:
        metrics = ", ".join(dict.fromkeys(f.metric.value for f in result.verdict.regressed))
        return f"memgate: REGRESSION ({metrics}) in {nodeid}"
    if outcome is Outcome.ERROR:
        if not result.verdict.reasons:  # not a run that failed: a result that could not be read
            return f"memgate: ERROR in {nodeid}"
        return f"memgate: ERROR ({result.verdict.reasons[0].value.replace('_', ' ')}) in {nodeid}"
    return f"memgate: {outcome.value.upper()} in {nodeid}"


def _message_lines(message: str) -> list[str]:
    """A verdict's message as pytest shows an exception: what follows its first line (a
    scenario's traceback and the rest of its exception's text) on lines of their own after
    ``E   ``, every control character spelled out, so that no text a scenario raised can
    start a line of the log (a ``::error::`` workflow command) or drive the terminal."""
    head, _, rest = message.partition("\n")
    return ["  " + printable(head)] + [f"E   {printable(line)}".rstrip() for line in rest.splitlines()]


def failure_text(result: ScenarioResult, strict_new: bool = False) -> str:
    """The long representation of a failed scenario: what, by how much, how sure, where."""
    verdict = result.verdict
    lines = [headline(result)]
    suspects = verdict.suspects
    if verdict.outcome is Outcome.REGRESSION:
        lines.append("")
        lines.extend(f"  {finding_text(f)}." for f in verdict.regressed)
        if suspects:
            lines += ["", f"  Also past its tolerance, not yet proven after {len(result.records)} runs:"]
            lines.extend(f"  {finding_text(f)}." for f in suspects)
    else:
        lines.extend(_message_lines(verdict_message(verdict, result.notes)))
    base = result.baseline
    capped = next((r for r in result.records if r.status is RunStatus.HARD_CAP and r.peak_sites), None)
    if capped is not None:
        lines += [""] + _sites(
            "  Largest allocations alive when the run was stopped:",
            capped.peak_sites,
            base.peak_sites if base else (),
            1,
        )
    elif result.records and result.records[0].ok:
        record = result.records[0]
        if Reason.PEAK in verdict.reasons or Reason.BUDGET in verdict.reasons:
            lines += [""] + _sites(
                "  Largest allocations alive at the heap peak (run 1):",
                record.peak_sites,
                base.peak_sites if base else (),
                1,
            )
        growing = any(f.reason is Reason.GROWTH for f in suspects)
        if Reason.GROWTH in verdict.reasons or Reason.BUDGET in verdict.reasons or growing:
            lines += [""] + _sites(
                f"  Memory still allocated after the {record.iterations} measured calls (run 1):",
                record.retained_sites,
                base.retained_sites if base else (),
                record.iterations,
            )
    regressed = {f.metric for f in verdict.regressed}
    if Metric.RSS_GROWTH in regressed and Metric.HEAP_GROWTH not in regressed:
        lines += [
            "",
            "  Heap flat, RSS climbing: the memory is outside the tracked heap (a native "
            "library's own allocator, malloc reached through dlsym, memory-mapped files, or "
            "allocator fragmentation), so no allocation site can name it.",
        ]
    if result.shape is not None:
        lines += ["", f"  Shape: {result.shape.shape.value}."]
    lines.extend(f"  Note: {printable(note_text(note))}" for note in result.notes)
    if strict_new:
        lines.append("  (--memgate-strict fails new scenarios)")
    return "\n".join(lines)


def format_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns; the first row is the header, underlined with dashes."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _cap_text(report: SessionReport) -> str:
    if report.hard_cap_bytes is None:
        return f"hard cap: {report.hard_cap_source}"
    return f"hard cap: {format_size(report.hard_cap_bytes)} per child ({report.hard_cap_source})"


def _limit_text(report: SessionReport) -> str:
    limit = report.memory_limit_bytes
    size = format_size(limit) if limit is not None else "none"
    return f"{size} ({report.memory_limit_source})"


def verdict_cell(result: ScenarioResult) -> str:
    verdict = result.verdict
    if verdict.outcome is Outcome.SKIPPED:
        return "skipped: not run" if verdict.error else f"skipped: {skip_reason(result.notes)}"
    reasons = f" ({', '.join(r.value for r in verdict.reasons)})" if verdict.reasons else ""
    return f"{verdict.outcome.value}{reasons}"


def counts_line(report: SessionReport) -> str:
    """One line a CI log shows at a glance: how many scenarios ended each way."""
    outcomes = [r.outcome for r in report.results]
    parts = [f"{outcomes.count(o)} {o.value}" for o in Outcome if o in outcomes]
    if any(r.outcome is Outcome.SKIPPED and not r.verdict.error for r in report.results):
        parts.append("skipped scenarios were NOT compared with their baseline")
    return "memgate: " + ", ".join(parts)


def _current(result: ScenarioResult) -> dict[Metric, float | None]:
    if not result.measured:
        return {}
    return {
        Metric.HEAP_PEAK: result.median("peak_heap_bytes"),
        Metric.HEAP_GROWTH: result.median("heap_growth"),
        Metric.RSS_PEAK: result.median("peak_rss_bytes"),
    }


def _row(result: ScenarioResult, failing: bool) -> CompareRow:
    """Each metric as baseline -> current and the change as the finding estimated it: the
    table and the failure text show one number for one change. ``failing``: the scenario
    fails its test (a new one under --memgate-strict too, an accepted increase not)."""
    findings = result.verdict.findings if result.measured else ()
    return CompareRow(
        printable(result.nodeid),
        verdict_cell(result),
        failing,
        cells_from(findings, _current(result)),
        (
            f"{len(result.records)} cheap" if result.screened else str(len(result.records)),
            result.shape.shape.value if result.shape and result.measured else "-",
        ),
    )


def summary_lines(report: SessionReport) -> list[str]:
    """The table after the run, and what was written or needs attention. Every line is one
    line of the terminal: ids, paths and messages have their control characters spelled out."""
    return [printable(line) for line in _summary_lines(report)]


def _suite_source(report: SessionReport) -> str:
    """Where the suite size came from, when it is not simply the scenarios collected."""
    if report.suite_size_source == "baseline":
        return (
            f"; suite size: the baseline's {report.scenario_count} scenarios, as this run "
            f"collected only {report.scenarios_collected}"
        )
    if report.suite_size_source == "configured":
        return "; suite size: configured"
    return ""


def _summary_lines(report: SessionReport) -> list[str]:
    lines = [
        f"backend: {report.backend} ({report.backend_reason}); baseline: "
        f"{report.baseline_path}; false-alarm rate {report.alpha:g} for the session "
        f"= {report.alpha_per_test:.2g} per test ({report.scenario_count} scenario(s) x "
        f"{report.comparisons} metrics x {report.looks} looks{_suite_source(report)})",
        f"memory limit: {_limit_text(report)}",
        _cap_text(report),
    ]
    if report.baseline_set_aside is not None:
        why, where = report.baseline_set_aside
        lines.append(
            f"baseline could not be read ({why}); moved aside to {where}, and this run records "
            f"afresh into {report.baseline_path}"
        )
    if not report.results:
        return [*lines, "no memload scenarios were measured"]
    rows = [_row(r, r.nodeid in report.failing) for r in report.results]
    lines.extend(format_table(table_rows(rows, DEFAULT_COLUMNS, ("runs", "shape"))))
    if any(cell.mark for row in rows for cell in row.cells.values()) or any(row.failing for row in rows):
        lines.append(LEGEND)
    for r in report.results:
        if r.outcome in (Outcome.INCONCLUSIVE, Outcome.IMPROVED) or (
            r.outcome is Outcome.NEW and report.update_reason is None
        ):
            lines.append(f"{r.nodeid}: {r.outcome.value}: {verdict_message(r.verdict, r.notes)}")
        if not r.records and r.outcome in (Outcome.ERROR, Outcome.SKIPPED):  # never measured
            lines.append(f"{r.nodeid}: {r.outcome.value}: {verdict_message(r.verdict, r.notes)}")
        # A cheap first look is the common case: one line for all of them, below.
        shown = [n for n in r.notes if n.kind is not NoteKind.SCREENED]
        lines.extend(f"{r.nodeid}: note: {note_text(note)}" for note in shown)
        if r.scaling is not None:  # on a family's last size: how its peak grows with size
            lines.append(f"{r.scaling.family}: {scaling_text(r.scaling)}")
    screened = sum(r.screened for r in report.results)
    if screened:
        lines.append(f"{screened} scenario(s) (runs: '1 cheap') {note_text(Note(NoteKind.SCREENED))}")
    for nodeid, why in report.written:
        lines.append(f"baseline written for {nodeid}: {why}")
    if report.written:
        lines.append(f"baseline file: {report.baseline_path}")
    lines.extend(not_written_text(nodeid, outcome) for nodeid, outcome in report.not_written)
    if report.update_held is not None:
        lines.append(f"baseline not updated: {report.update_held}")
    elif report.update_reason is None and report.update_branches and not report.written:
        lines.append(
            f"baseline not updated: branch {report.branch!r} ({report.branch_source}) "
            f"matches none of update_branches {list(report.update_branches)}"
        )
    stale = report.stale
    if stale:
        lines.append(
            f"baseline has {len(stale)} scenario(s) with no test in this session: "
            f"{', '.join(stale[:5])}{' ...' if len(stale) > 5 else ''}; remove them with "
            f"`memgate prune {report.baseline_path} --keep-report REPORT` or carry a renamed one "
            "over with `memgate rename`"
        )
    lines.extend(f"{what} written: {path}" for what, path in report.files)
    lines.append(counts_line(report))
    lines.extend(report.errors)
    return lines
