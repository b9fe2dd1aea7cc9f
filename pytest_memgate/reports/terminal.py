"""Text for people: the failure paragraph with its allocation sites, and the summary table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..model import AllocSite
from ..units import format_size
from ..verdict import COMPARISONS, Outcome, suspected

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
    suspects = suspected(verdict.findings)
    if verdict.outcome is Outcome.REGRESSION:
        lines.append("")
        lines.extend(f"  {f.text}." for f in verdict.findings if f.regressed)
        if suspects:
            lines += ["", f"  Also past its tolerance, not yet proven after {len(result.records)} runs:"]
            lines.extend(f"  {f.text}." for f in suspects)
    else:
        lines.append("  " + verdict.message)
    capped = next((r for r in result.records if r.status.value == "hard_cap" and r.peak_sites), None)
    if capped is not None:
        lines += [""] + _sites(
            "  Largest allocations alive when the run was stopped:",
            capped.peak_sites,
            result.baseline.peak_sites if result.baseline else (),
            1,
        )
    elif result.records and result.records[0].ok:
        record = result.records[0]
        base = result.baseline
        if "peak" in verdict.reasons or "budget" in verdict.reasons:
            lines += [""] + _sites(
                "  Largest allocations alive at the heap peak (run 1):",
                record.peak_sites,
                base.peak_sites if base else (),
                1,
            )
        growing = any(f.reason == "growth" for f in suspects)
        if "growth" in verdict.reasons or "budget" in verdict.reasons or growing:
            lines += [""] + _sites(
                f"  Memory still allocated after the {record.iterations} measured calls (run 1):",
                record.retained_sites,
                base.retained_sites if base else (),
                record.iterations,
            )
    regressed = {f.metric for f in verdict.findings if f.regressed}
    if "RSS growth" in regressed and "heap growth" not in regressed:
        lines += [
            "",
            "  Heap flat, RSS climbing: the memory is outside the tracked heap (a native "
            "library's own allocator, malloc reached through dlsym, memory-mapped files, or "
            "allocator fragmentation), so no allocation site can name it.",
        ]
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


def _pick(document: dict[str, Any], key: str) -> float | None:
    value = document.get(key)
    return float(value) if isinstance(value, (int, float)) else None


def _versus(current: float | None, base: float | None, relative: bool) -> str:
    if current is None or base is None:
        return "-"
    if relative and base:
        return f"{(current / base - 1) * 100:+.1f}%"
    return format_size(current - base, signed=True)


def _limit_text(session: GateSession) -> str:
    limit = session.memory_limit
    size = format_size(limit.limit_bytes) if limit.limit_bytes is not None else "none"
    return f"{size} ({limit.source})"


def summary_lines(session: GateSession) -> list[str]:
    """The table after the run, built from the serialisable documents (xdist-merged too)."""
    documents = [session.documents[k] for k in sorted(session.documents)]
    lines = [
        f"backend: {session.backend.name} ({session.backend.reason}); baseline: "
        f"{session.baseline_path}; false-alarm rate {session.config.alpha:g} for the session "
        f"= {session.policy.alpha:.2g} per test ({max(session.scenario_count, 1)} scenario(s) x "
        f"{COMPARISONS} metrics x {len(session.looks)} looks)",
        f"memory limit: {_limit_text(session)}",
    ]
    if not documents:
        return [*lines, "no memload scenarios were measured"]
    rows: list[Sequence[str]] = [
        ("scenario", "verdict", "heap peak", "vs base", "growth/call", "vs base", "RSS peak", "runs", "shape")
    ]
    for d in documents:
        measured = d["run_records"] and d["verdict"] != "error"
        base = d.get("baseline") or {}
        peak, growth = _pick(d, "peak_bytes"), _pick(d, "growth_bytes_per_call")
        rows.append(
            (
                d["id"],
                d["verdict"] + (f" ({', '.join(d['reasons'])})" if d["reasons"] else ""),
                format_size(peak) if measured and peak is not None else "-",
                _versus(peak, _pick(base, "peak_bytes"), True) if measured else "-",
                format_size(growth, signed=True) if measured and growth is not None else "-",
                _versus(growth, _pick(base, "growth_bytes_per_call"), False) if measured else "-",
                format_size(d["rss_peak_bytes"]) if measured else "-",
                str(d["runs"]),
                d.get("shape") or "-",
            )
        )
    lines.extend(format_table(rows))
    for d in documents:
        if d["verdict"] in (Outcome.INCONCLUSIVE.value, Outcome.IMPROVED.value) or (
            d["verdict"] == Outcome.NEW.value and session.update_reason() is None
        ):
            lines.append(f"{d['id']}: {d['verdict']}: {d['message']}")
        lines.extend(f"{d['id']}: note: {note}" for note in d.get("notes", ()))
    for nodeid, why in session.written:
        lines.append(f"baseline written for {nodeid}: {why}")
    if session.written:
        lines.append(f"baseline file: {session.baseline_path}")
    for nodeid, outcome in session.not_written:
        lines.append(
            f"baseline NOT updated for {nodeid}: it is {outcome}; fix it, or record the increase "
            f"on purpose with --memgate-accept '{nodeid}' --memgate-reason '...'"
        )
    if session.update_reason() is None and session.config.update_branches:
        lines.append(
            f"baseline not updated: branch {session.branch.name!r} ({session.branch.source}) "
            f"matches none of update_branches {list(session.config.update_branches)}"
        )
    stale = session.stale_entries()
    if stale:
        lines.append(
            f"baseline has {len(stale)} scenario(s) with no test in this session: "
            f"{', '.join(stale[:5])}{' ...' if len(stale) > 5 else ''}; remove them with "
            f"`memgate prune {session.baseline_path} --keep-report REPORT` or carry a renamed one "
            "over with `memgate rename`"
        )
    return lines
