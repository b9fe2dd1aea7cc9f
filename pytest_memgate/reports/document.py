"""The public ``--memgate-report`` document, read: the figures, rows, counts and sites every
renderer shows.

Markdown, HTML, its charts, GitHub's annotations and ``memgate report`` all read a saved
document the same way through these functions, so every format shows one number for one
change, and a saved file renders the same as a live session.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..backends.sites import SiteKey, match_sites
from ..units import format_percent, format_size

# Verdicts that fail a scenario by themselves: how a report written before ``fails`` (report
# version 1) is read.
FAILING_VERDICTS = ("regression", "error")


def fails(scenario: Mapping[str, Any]) -> bool:
    """Whether the gate failed the scenario's test, as the run decided it (``failing.py``:
    ``inconclusive = "fail"``, ``--memgate-strict`` and an accepted increase included). Every
    renderer flags these, and ``memgate report`` and ``merge`` exit 1 on them. A report
    without the flag is judged by its verdict."""
    flag = scenario.get("fails")
    return flag if isinstance(flag, bool) else scenario.get("verdict") in FAILING_VERDICTS


def failure_reason(scenario: Mapping[str, Any]) -> str | None:
    """Why a scenario fails although its verdict alone would not fail it, in words; None
    when it passes or its verdict says it (a regression, an error)."""
    verdict = scenario.get("verdict")
    if not fails(scenario) or verdict in FAILING_VERDICTS:
        return None
    if scenario.get("failure") == "strict_new":
        return "fails under --memgate-strict: a new scenario has no baseline to compare with"
    if verdict == "inconclusive":
        return 'fails under inconclusive = "fail": the runs could not decide'
    return "fails its test"


def number(value: object) -> float | None:
    """A finite figure from the document, else None (the report writes null for no data)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def size(value: object, *, signed: bool = False) -> str:
    figure = number(value)
    return "-" if figure is None else format_size(figure, signed=signed)


def compared(scenario: Mapping[str, Any], metric: str) -> Mapping[str, Any] | None:
    """The metric's finding against the baseline (a budget check of the same metric has no
    baseline figure and comes first when the marker sets one)."""
    findings = scenario.get("findings") or ()
    return next((f for f in findings if f.get("metric") == metric and f.get("baseline") is not None), None)


def verdict_cell(scenario: Mapping[str, Any]) -> str:
    reasons = scenario.get("reasons") or ()
    return f"{scenario.get('verdict', '?')}" + (f" ({', '.join(map(str, reasons))})" if reasons else "")


def measured(scenario: Mapping[str, Any]) -> bool:
    """Figures exist: an error leaves none worth showing (as the terminal table does)."""
    return scenario.get("verdict") != "error" and bool(scenario.get("runs"))


@dataclass(frozen=True, slots=True)
class Row:
    """One scenario in the summary table: the cells people read and the keys it sorts by."""

    id: str
    verdict: str
    cells: tuple[str, ...]
    keys: tuple[float | str, ...]


def summary_row(scenario: Mapping[str, Any]) -> Row:
    nodeid = str(scenario.get("id", ""))
    verdict = str(scenario.get("verdict", ""))
    runs = int(number(scenario.get("runs")) or 0)
    if not measured(scenario):
        cells = (nodeid, verdict_cell(scenario), "-", "-", "-", "-", "-", str(runs), "-")
        nan = -math.inf
        return Row(nodeid, verdict, cells, (nodeid, verdict, nan, nan, nan, nan, nan, runs, ""))
    peak_change = compared(scenario, "heap peak")
    growth_change = compared(scenario, "heap growth")
    ratio = number(peak_change.get("ratio")) if peak_change else None
    delta = number(growth_change.get("delta")) if growth_change else None
    cells = (
        nodeid,
        verdict_cell(scenario),
        size(scenario.get("peak_bytes")),
        "-" if ratio is None else format_percent(ratio),
        size(scenario.get("growth_bytes_per_call"), signed=True),
        "-" if delta is None else format_size(delta, signed=True),
        size(scenario.get("rss_peak_bytes")),
        str(runs),
        str(scenario.get("shape") or "-"),
    )

    def key(value: float | None) -> float:
        return -math.inf if value is None else value

    keys: tuple[float | str, ...] = (
        nodeid,
        verdict,
        key(number(scenario.get("peak_bytes"))),
        key(ratio),
        key(number(scenario.get("growth_bytes_per_call"))),
        key(delta),
        key(number(scenario.get("rss_peak_bytes"))),
        runs,
        cells[-1],
    )
    return Row(nodeid, verdict, cells, keys)


def summary_rows(document: Mapping[str, Any]) -> list[Row]:
    return [summary_row(s) for s in document.get("scenarios") or ()]


def counts(document: Mapping[str, Any]) -> str:
    """``1 regression, 3 pass``: how the scenarios ended, in the order they first appear."""
    verdicts = [str(s.get("verdict", "?")) for s in document.get("scenarios") or ()]
    if not verdicts:
        return "no memload scenarios were measured"
    return ", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts))


def first_clause(text: str) -> str:
    """A finding up to its first ``;`` outside parentheses: what moved and by how much,
    without the statistics (the full sentence is in the report)."""
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == ";" and depth <= 0:
            return text[:i].rstrip()
    return text.strip()


def headline_lines(scenario: Mapping[str, Any], limit: int = 2) -> list[str]:
    """What a failing scenario's reader needs first: the proven findings' first clauses, or
    the first line of the error."""
    proven = [f for f in scenario.get("findings") or () if f.get("regressed") and f.get("text")]
    if proven:
        return [first_clause(str(f["text"])) for f in proven[:limit]]
    message = str(scenario.get("message") or "").strip()
    return [first_clause(message.splitlines()[0])] if message else []


_LIBRARY = re.compile(r"(^|/)(site-packages|dist-packages)/|^<|^/|^[A-Za-z]:[\\/]|^\.\./|^~")


def is_project_path(filename: str) -> bool:
    """A site in the user's code, relative to the rootdir: not a library, not ``<frozen ...>``
    or ``<external>/...``, not an absolute path of this machine."""
    return bool(filename) and not _LIBRARY.search(filename.replace("\\", "/"))


@dataclass(frozen=True, slots=True)
class SiteChange:
    """An allocation site and what it held, against the baseline's figure for the same line."""

    site: Mapping[str, Any]
    kind: str  # "peak" (alive at the heap peak) or "retained" (still allocated at the end)
    baseline_bytes: float | None
    baseline_lineno: object = None  # the line the baseline saw the same site at

    @property
    def moved_from(self) -> object:
        """The baseline's line when the site's code has moved since (a line added above)."""
        line = self.site.get("lineno")
        return (
            self.baseline_lineno if self.baseline_bytes is not None and self.baseline_lineno != line else None
        )

    @property
    def size_bytes(self) -> float:
        return number(self.site.get("size_bytes")) or 0.0

    @property
    def growth_bytes(self) -> float:
        return self.size_bytes - (self.baseline_bytes or 0.0)

    @property
    def location(self) -> str:
        return f"{self.site.get('filename', '?')}:{self.site.get('lineno', '?')}"


def _site_key(site: Mapping[str, Any]) -> SiteKey:
    line = site.get("lineno")
    stack = [f for f in site.get("stack") or () if isinstance(f, (list, tuple))]
    return (
        str(site.get("function", "")),
        str(site.get("filename", "")),
        line if isinstance(line, int) else -1,
        stack,
    )


def site_changes(scenario: Mapping[str, Any], kind: str) -> list[SiteChange]:
    """Run 1's sites of ``kind`` (as the failure text shows them), each with the baseline's
    figure for the same code: matched by file and function, not by line alone."""
    records = scenario.get("run_records") or ()
    if not records:
        return []
    current = [s for s in records[0].get(f"{kind}_sites") or () if isinstance(s, Mapping)]
    baseline = scenario.get("baseline") or {}
    before = [s for s in baseline.get(f"{kind}_sites") or () if isinstance(s, Mapping)]
    if not before:
        return [SiteChange(site, kind, None) for site in current]
    matches = match_sites([_site_key(s) for s in current], [_site_key(s) for s in before])
    return [
        SiteChange(site, kind, None, None)
        if j is None
        else SiteChange(site, kind, number(before[j].get("size_bytes")) or 0.0, before[j].get("lineno"))
        for site, j in zip(current, matches)
    ]


def grown_site(scenario: Mapping[str, Any], *, project_only: bool = False) -> SiteChange | None:
    """The site that grew most: among the sites still allocated at the end when growth is a
    reason (a leak), else among those alive at the peak; by growth over the baseline's
    figure when the document has it, else by size."""
    reasons = scenario.get("reasons") or ()
    kinds = ("retained", "peak") if "growth" in reasons else ("peak", "retained")
    for kind in kinds:
        changes: Iterable[SiteChange] = site_changes(scenario, kind)
        if project_only:
            changes = [c for c in changes if is_project_path(str(c.site.get("filename", "")))]
        best = max(changes, key=lambda c: c.growth_bytes, default=None)
        if best is not None and best.growth_bytes > 0:
            return best
    return None


def site_amount(change: SiteChange, iterations: int | None = None) -> str:
    """``9.43 MiB = 193 KiB/call still allocated at the end (baseline 162 KiB)``."""
    amount = format_size(change.size_bytes)
    if change.kind == "retained" and iterations:
        amount += f" = {format_size(change.size_bytes / iterations)}/call"
    where = "alive at the heap peak" if change.kind == "peak" else "still allocated at the end"
    moved = "" if change.moved_from is None else f", moved from line {change.moved_from}"
    was = "" if change.baseline_bytes is None else f" (baseline {format_size(change.baseline_bytes)}{moved})"
    return f"{amount} {where}{was}"


def iterations_of(scenario: Mapping[str, Any]) -> int | None:
    records = scenario.get("run_records") or ()
    value = number(records[0].get("iterations")) if records else None
    return int(value) if value else None
