"""Text for people: the failure paragraph with its allocation sites, and the summary table."""

from __future__ import annotations

from collections.abc import Sequence

from ..model import AllocSite, RunStatus
from ..results import Metric, Outcome, Reason, ScenarioResult, SessionReport
from ..units import format_percent, format_size
from .words import TABLE_HEADER, finding_text, note_text, printable, skip_reason, verdict_message


def _site_line(site: AllocSite, before: dict[tuple[str, str, int], AllocSite], per: int) -> str:
    key = (site.function, site.filename, site.lineno)
    old = before.get(key)
    was = f" (baseline {format_size(old.size_bytes)})" if old else " (not in the baseline's top sites)"
    amount = format_size(site.size_bytes)
    if per > 1:
        amount += f" = {format_size(site.size_bytes / per)}/call"
    return f"    {amount} in {site.count} allocations: {printable(site.location)}{was if before else ''}"


def _sites(
    title: str, sites: Sequence[AllocSite], before: Sequence[AllocSite], per: int, limit: int = 5
) -> list[str]:
    if not sites:
        return []
    index = {(s.function, s.filename, s.lineno): s for s in before}
    return [title] + [_site_line(s, index, per) for s in sites[:limit]]


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


def _verdict_cell(result: ScenarioResult) -> str:
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


def _change(result: ScenarioResult, metric: Metric) -> str:
    """The change against the baseline as the finding estimated it: the table and the
    failure text show one number for one change."""
    comparisons = (f.comparison for f in result.verdict.findings if f.metric is metric)
    comparison = next((c for c in comparisons if c is not None), None)  # not the budget check
    if comparison is None:
        return "-"
    if metric is Metric.HEAP_PEAK:
        return format_percent(comparison.ratio)
    return format_size(comparison.delta, signed=True)


def _row(result: ScenarioResult) -> tuple[str, ...]:
    outcome = _verdict_cell(result)
    nodeid = printable(result.nodeid)
    if not result.measured:
        return (nodeid, outcome, "-", "-", "-", "-", "-", str(len(result.records)), "-")
    peak, growth = result.median("peak_heap_bytes"), result.median("heap_growth")
    return (
        nodeid,
        outcome,
        format_size(peak),
        _change(result, Metric.HEAP_PEAK),
        format_size(growth, signed=True),
        _change(result, Metric.HEAP_GROWTH),
        format_size(result.median("peak_rss_bytes")),
        str(len(result.records)),
        result.shape.shape.value if result.shape else "-",
    )


def summary_lines(report: SessionReport) -> list[str]:
    """The table after the run, and what was written or needs attention. Every line is one
    line of the terminal: ids, paths and messages have their control characters spelled out."""
    return [printable(line) for line in _summary_lines(report)]


def _summary_lines(report: SessionReport) -> list[str]:
    lines = [
        f"backend: {report.backend} ({report.backend_reason}); baseline: "
        f"{report.baseline_path}; false-alarm rate {report.alpha:g} for the session "
        f"= {report.alpha_per_test:.2g} per test ({report.scenario_count} scenario(s) x "
        f"{report.comparisons} metrics x {report.looks} looks)",
        f"memory limit: {_limit_text(report)}",
        _cap_text(report),
    ]
    if not report.results:
        return [*lines, "no memload scenarios were measured"]
    lines.extend(format_table([TABLE_HEADER, *(_row(r) for r in report.results)]))
    for r in report.results:
        if r.outcome in (Outcome.INCONCLUSIVE, Outcome.IMPROVED) or (
            r.outcome is Outcome.NEW and report.update_reason is None
        ):
            lines.append(f"{r.nodeid}: {r.outcome.value}: {verdict_message(r.verdict, r.notes)}")
        if not r.records and r.outcome in (Outcome.ERROR, Outcome.SKIPPED):  # never measured
            lines.append(f"{r.nodeid}: {r.outcome.value}: {verdict_message(r.verdict, r.notes)}")
        lines.extend(f"{r.nodeid}: note: {note_text(note)}" for note in r.notes)
    for nodeid, why in report.written:
        lines.append(f"baseline written for {nodeid}: {why}")
    if report.written:
        lines.append(f"baseline file: {report.baseline_path}")
    for nodeid, outcome in report.not_written:
        lines.append(
            f"baseline NOT updated for {nodeid}: it is {outcome}; fix it, or record the increase "
            f"on purpose with --memgate-accept '{nodeid}' --memgate-reason '...'"
        )
    if report.update_reason is None and report.update_branches and not report.written:
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
