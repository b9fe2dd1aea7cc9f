"""Text for people: the failure paragraph with its allocation sites, and the summary table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..model import AllocSite
from ..units import format_size
from ..verdict import Outcome

if TYPE_CHECKING:
    from ..session import GateSession, ScenarioResult


def _site_line(site: AllocSite, before: dict[tuple[str, str, int], AllocSite], per: int) -> str:
    key = (site.function, site.filename, site.lineno)
    old = before.get(key)
    was = f" (baseline {format_size(old.size_bytes)})" if old else " (not in the baseline's top sites)"
    amount = format_size(site.size_bytes)
    if per > 1:
        amount += f" = {format_size(site.size_bytes / per)}/call"
    return f"    {amount} in {site.count} allocations: {site.location}{was if before else ''}"


def _sites(
    title: str, sites: Sequence[AllocSite], before: Sequence[AllocSite], per: int, limit: int = 5
) -> list[str]:
    if not sites:
        return []
    index = {(s.function, s.filename, s.lineno): s for s in before}
    return [title] + [_site_line(s, index, per) for s in sites[:limit]]


def failure_text(result: ScenarioResult) -> str:
    """The long representation of a failed scenario: what, by how much, how sure, where."""
    verdict = result.verdict
    lines = [f"memgate: {result.nodeid}: {verdict.outcome.value.upper()}"]
    if verdict.outcome is Outcome.REGRESSION:
        lines.append("")
        lines.extend(f"  {f.text}." for f in verdict.findings if f.regressed)
    else:
        lines.append("  " + verdict.message)
    if result.records and result.records[0].ok:
        record = result.records[0]
        base = result.baseline
        if "peak" in verdict.reasons or "budget" in verdict.reasons:
            lines += [""] + _sites(
                "  Largest allocations alive at the heap peak (run 1):",
                record.peak_sites,
                base.peak_sites if base else (),
                1,
            )
        if "growth" in verdict.reasons or "budget" in verdict.reasons:
            lines += [""] + _sites(
                f"  Memory still allocated after the {record.iterations} measured calls (run 1):",
                record.retained_sites,
                base.retained_sites if base else (),
                record.iterations,
            )
    if result.shape is not None:
        lines += ["", f"  Shape: {result.shape.shape.value}."]
    lines.extend(f"  Note: {note}" for note in result.notes)
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


def summary_lines(session: GateSession) -> list[str]:
    results = [r for _, r in sorted(session.results.items())]
    lines = [
        f"backend: {session.backend.name} ({session.backend.reason}); baseline: "
        f"{session.config.baseline_path}; false-alarm rate {session.config.alpha:g} for the "
        f"session = {session.policy.alpha:.2g} per scenario"
    ]
    if not results:
        return [*lines, "no memload scenarios were measured"]
    header = (
        "scenario",
        "verdict",
        "heap peak",
        "vs base",
        "growth/call",
        "vs base",
        "RSS peak",
        "runs",
        "shape",
    )
    rows = [header]
    for r in results:
        base = r.baseline
        peak = r.median("peak_heap_bytes")
        growth = r.median("heap_growth")
        if base is not None and r.summaries:
            b_peak = sorted(x.peak_heap_bytes for x in base.runs)[len(base.runs) // 2]
            b_growth = sorted(x.heap_growth for x in base.runs)[len(base.runs) // 2]
            vs_peak = (
                f"{(peak / b_peak - 1) * 100:+.1f}%" if b_peak else format_size(peak - b_peak, signed=True)
            )
            vs_growth = format_size(growth - b_growth, signed=True)
        else:
            vs_peak = vs_growth = "-"
        ok = bool(r.summaries)
        rows.append(
            (
                r.nodeid,
                r.verdict.outcome.value + (f" ({', '.join(r.verdict.reasons)})" if r.verdict.reasons else ""),
                format_size(peak) if ok else "-",
                vs_peak,
                format_size(growth, signed=True) if ok else "-",
                vs_growth,
                format_size(r.median("peak_rss_bytes")) if ok else "-",
                str(len(r.records)),
                r.shape.shape.value if r.shape else "-",
            )
        )
    lines.extend(format_table(rows))
    for r in results:
        if r.verdict.outcome in (Outcome.INCONCLUSIVE, Outcome.IMPROVED, Outcome.NEW):
            lines.append(f"{r.nodeid}: {r.verdict.outcome.value}: {r.verdict.message}")
        lines.extend(f"{r.nodeid}: note: {note}" for note in r.notes)
    if session.written:
        lines.append(
            f"baseline updated for {len(session.written)} scenario(s): {session.config.baseline_path}"
        )
    for nodeid, why in session.not_written:
        lines.append(
            f"baseline NOT updated for {nodeid}: it is {why}; fix it, or accept the change on purpose"
        )
    return lines
