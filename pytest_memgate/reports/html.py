"""The report as one self-contained HTML page: a table that sorts and filters, and charts.

A reviewer of a red build opens one file from the CI's artifacts and sees what grew, where,
and what memory did over time against the baseline, without re-running anything. The
page works offline: no CDN, no fonts, no images; a Content-Security-Policy forbids every
fetch, so nothing a report holds can make the page reach the network.

The page is put together here (tables, one section per scenario); the charts come from
``html_charts.py`` (drawn with ``html_svg.py``) and the style and script from
``html_assets.py``.

Like every renderer it works on the public ``--memgate-report`` document only (a saved
report renders the same) and decides nothing: the sentences come from ``words.py`` through
the document's ``message``, ``text`` and ``notes``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ..units import format_size, plural
from .document import (
    SiteChange,
    counts,
    fails,
    failure_reason,
    first_clause,
    number,
    site_changes,
    summary_row,
    verdict_cell,
)
from .html_assets import CSP, CSS, JS
from .html_charts import OTHER_RUN_POINTS, POINTS, floor_chart, run_records, scaling_chart, timeline_chart
from .html_svg import esc, thin
from .words import TABLE_HEADER

__all__ = ["OTHER_RUN_POINTS", "POINTS", "render_html", "thin"]

SITES_SHOWN = 10
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _sites_table(changes: Sequence[SiteChange], iterations: int | None) -> str:
    if not changes:
        return ""
    with_baseline = any(c.baseline_bytes is not None for c in changes)
    head = ["size", "allocations", "function", "where"]
    if changes[0].kind == "retained" and iterations:
        head.insert(1, "per call")
    if with_baseline:
        head += ["baseline", "change"]
    rows = []
    for change in changes[:SITES_SHOWN]:
        site = change.site
        stack = " < ".join(f"{f[0]} {f[1]}:{f[2]}" for f in site.get("stack") or () if len(f) == 3)
        cells = [format_size(change.size_bytes)]
        if "per call" in head and iterations:
            cells.append(format_size(change.size_bytes / iterations))
        cells.append(str(site.get("count", "")))
        cells += [str(site.get("function", "")), change.location]
        if with_baseline:
            base = change.baseline_bytes
            moved = "" if change.moved_from is None else f" (moved from line {change.moved_from})"
            cells += [
                "-" if base is None else format_size(base) + moved,
                format_size(change.growth_bytes, signed=True),
            ]
        title = f' title="{esc(stack)}"' if stack else ""
        tds = "".join(
            f"<td{title if head[i] == 'where' else ''}>{esc(cell)}</td>" for i, cell in enumerate(cells)
        )
        rows.append(f"<tr>{tds}</tr>")
    heading = "".join(f"<th>{esc(h)}</th>" for h in head)
    return (
        f'<div class="scroll"><table class="sites"><thead><tr>{heading}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _runs_table(scenario: Mapping[str, Any]) -> str:
    records = run_records(scenario)
    if not records:
        return ""
    rows = []
    for i, r in enumerate(records, 1):
        error = str(r.get("error") or "").strip().splitlines()
        cells = (
            str(i),
            str(r.get("status", "")),
            format_size(number(r.get("peak_heap_bytes")) or 0),
            format_size(number(r.get("peak_rss_bytes")) or 0),
            f"{number(r.get('measured_s')) or 0:.2f} s",
            error[0] if error else "",
        )
        rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("run", "status", "heap peak", "RSS peak", "measured", "error"))
    return (
        f'<details><summary>Runs ({len(records)})</summary><div class="scroll"><table class="runs">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></details>"
    )


def _finding_state(finding: Mapping[str, Any]) -> tuple[str, str]:
    if finding.get("regressed"):
        return "bad", "regressed"
    if finding.get("improved"):
        return "good", "improved"
    if finding.get("ambiguous"):
        return "unclear", "not settled"
    return "ok", "within tolerance"


def _relative_href(name: str) -> str | None:
    """A link to a file beside the report, or None: never a URL or an absolute path."""
    if not name or _SCHEME.match(name) or name.startswith(("/", "\\")) or ".." in name.split("/"):
        return None
    return quote(name.replace("\\", "/"), safe="/-_.~")


def _runs(count: object) -> str:
    return plural(count, "run") if isinstance(count, int) else f"{count} runs"


def _verdict_paragraphs(scenario: Mapping[str, Any]) -> str:
    """The verdict in short sentences, one per finding that decided it (what moved and by how
    much); the statistics behind each stay in the Findings list below the charts. A message
    that is not made of findings (an error's traceback, a pass) is shown as it is."""
    message = str(scenario.get("message") or "")
    findings = [f for f in scenario.get("findings") or () if isinstance(f, Mapping) and f.get("text")]
    verdict = scenario.get("verdict")
    deciding = {
        "regression": [f for f in findings if f.get("regressed")],
        "improved": [f for f in findings if f.get("improved")],
        "inconclusive": [f for f in findings if f.get("ambiguous")],
    }.get(str(verdict), [])
    if not deciding:
        return f'<p class="message">{esc(message)}</p>' if message else ""
    lines = [_sentence(first_clause(str(f["text"]))) for f in deciding]
    if verdict == "regression":
        _, also, listed = message.partition("also past its tolerance, not yet proven:")
        unproven = [f for f in findings if also and f.get("ambiguous") and str(f["text"]) in listed]
        lines += [
            "Also past its tolerance, not yet proven: "
            + _sentence(first_clause(str(f["text"])), capital=False)
            for f in unproven
        ]
    if verdict == "inconclusive":
        lines.append("More runs are needed to decide.")
    body = "".join(f"<p>{esc(line)}</p>" for line in lines)
    return f'<div class="verdict">{body}<p class="more">The tests behind each are under Findings.</p></div>'


def _sentence(clause: str, *, capital: bool = True) -> str:
    clause = clause.strip()
    return ((clause[:1].upper() + clause[1:]) if capital else clause).rstrip(".") + "."


def _section(
    document: Mapping[str, Any], scenario: Mapping[str, Any], index: int, flamegraph: str | None
) -> str:
    nodeid = str(scenario.get("id", ""))
    verdict = str(scenario.get("verdict", ""))
    failing = " fails" if fails(scenario) else ""
    parts = [
        f'<section class="scenario v-{esc(verdict)}{failing}" id="s{index}" data-id="{esc(nodeid)}" '
        f'data-verdict="{esc(verdict)}">',
        f'<h2><span class="badge v-{esc(verdict)}">{esc(verdict_cell(scenario))}</span> '
        f"<code>{esc(nodeid)}</code></h2>",
    ]
    facts = []
    if verdict != "error" or scenario.get("peak_bytes"):
        facts += [
            f"heap peak {format_size(number(scenario.get('peak_bytes')) or 0)}",
            f"growth {format_size(number(scenario.get('growth_bytes_per_call')) or 0, signed=True)}/call",
            f"RSS peak {format_size(number(scenario.get('rss_peak_bytes')) or 0)}",
        ]
    facts.append(_runs(scenario.get("runs", 0)))
    if scenario.get("shape"):
        facts.append(f"shape: {scenario['shape']}")
    baseline = scenario.get("baseline")
    if isinstance(baseline, Mapping):
        facts.append(
            f"baseline: {format_size(number(baseline.get('peak_bytes')) or 0)} peak, "
            f"{format_size(number(baseline.get('growth_bytes_per_call')) or 0, signed=True)}/call "
            f"over {_runs(baseline.get('runs', '?'))}"
        )
    link = ""
    href = _relative_href(flamegraph) if flamegraph else None
    if href is not None:
        link = f' · <a class="flame" href="{esc(href)}">flame graph</a>'
    parts.append(f'<p class="facts">{" · ".join(esc(f) for f in facts)}{link}</p>')
    reason = failure_reason(scenario)
    if reason:
        parts.append(f'<p class="why-fails">{esc(_sentence(reason))}</p>')
    parts.append(_verdict_paragraphs(scenario))
    notes = [str(n) for n in scenario.get("notes") or ()]
    if notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    charts = [timeline_chart(scenario), floor_chart(scenario), scaling_chart(document, scenario)]
    drawn = [c for c in charts if c]
    if drawn:
        parts.append(f'<div class="charts">{"".join(drawn)}</div>')
    else:
        parts.append('<p class="empty">No measured series to chart.</p>')
    findings = [f for f in scenario.get("findings") or () if isinstance(f, Mapping)]
    if findings:
        items = []
        for f in findings:
            css, label = _finding_state(f)
            items.append(
                f'<li class="{css}"><b>{esc(f.get("metric", ""))}: {label}.</b> {esc(f.get("text", ""))}</li>'
            )
        parts.append(f'<h3>Findings</h3><ul class="findings">{"".join(items)}</ul>')
    records = run_records(scenario)
    iterations = int(number(records[0].get("iterations")) or 0) if records else 0
    peak = _sites_table(site_changes(scenario, "peak"), None)
    if peak:
        parts.append(f"<h3>Largest allocations alive at the heap peak (run 1)</h3>{peak}")
    retained = _sites_table(site_changes(scenario, "retained"), iterations or None)
    if retained:
        parts.append(f"<h3>Still allocated after the {iterations} measured calls (run 1)</h3>{retained}")
    parts.append(_runs_table(scenario))
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def _summary_table(document: Mapping[str, Any]) -> str:
    head = "".join(f'<th><button type="button">{esc(h)}</button></th>' for h in TABLE_HEADER)
    rows = []
    for index, scenario in enumerate(document.get("scenarios") or (), 1):
        row = summary_row(scenario)
        cells = []
        for i, (cell, key) in enumerate(zip(row.cells, row.keys)):
            sort = key if isinstance(key, str) else ("-Infinity" if key == -math.inf else repr(key))
            text = f'<a href="#s{index}">{esc(cell)}</a>' if i == 0 else esc(cell)
            cells.append(f'<td data-v="{esc(sort)}">{text}</td>')
        rows.append(
            f'<tr class="v-{esc(row.verdict)}{" fails" if fails(scenario) else ""}" data-id="{esc(row.id)}" '
            f'data-verdict="{esc(row.verdict)}">'
            f"{''.join(cells)}</tr>"
        )
    return (
        f'<div class="scroll"><table id="summary"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _filters(document: Mapping[str, Any]) -> str:
    scenarios = [s for s in document.get("scenarios") or () if isinstance(s, Mapping)]
    verdicts = dict.fromkeys(str(s.get("verdict", "")) for s in scenarios)
    options = ['<option value="">all verdicts</option>']
    if any(fails(s) for s in scenarios):
        options.append('<option value="failing">failing (the gate failed its test)</option>')
    options += [f'<option value="{esc(v)}">{esc(v)}</option>' for v in verdicts]
    return (
        '<div class="controls"><label>Filter <input id="q" type="search" placeholder="scenario id" '
        'autocomplete="off"></label> <label>Verdict <select id="verdict">'
        f"{''.join(options)}</select></label></div>"
    )


def _meta(document: Mapping[str, Any]) -> str:
    parts = [f"memgate {document.get('memgate_version', '?')}", f"backend {document.get('backend', '?')}"]
    alpha = number(document.get("alpha"))
    if alpha is not None:
        parts.append(f"false-alarm rate {alpha:g} for the session")
    path = str(document.get("baseline_path") or "")
    if path and not path.startswith(("/", "\\", "~")) and not re.match(r"^[A-Za-z]:", path):
        parts.append(f"baseline {path}")
    return " · ".join(esc(p) for p in parts)


def render_html(document: Mapping[str, Any], *, flamegraphs: Mapping[str, str] | None = None) -> str:
    """One page for the whole report. ``flamegraphs`` maps a scenario id to a file name
    relative to the page (memray's flame graph kept beside it); anything else is not linked."""
    scenarios = [s for s in document.get("scenarios") or () if isinstance(s, Mapping)]
    links = flamegraphs or {}
    summary = counts(document)
    body = [
        "<header><h1>memgate report</h1>",
        f'<p class="meta">{_meta(document)}</p>',
        f"<p><b>{esc(summary)}</b></p></header>",
    ]
    if scenarios:
        body += [_filters(document), _summary_table(document)]
        body += [
            _section(document, s, i, links.get(str(s.get("id", "")))) for i, s in enumerate(scenarios, 1)
        ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>memgate report: {esc(summary)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{JS}</script>\n</body></html>\n"
    )
