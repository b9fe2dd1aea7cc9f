"""The report as Markdown: the summary table and, for failures, the lines that matter.

Markdown is what every CI can show (a pull-request comment, GitHub's step summary, a GitLab
artifact), so this renderer works on the public ``--memgate-report`` document alone, read
through ``document.py`` as every renderer reads it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .document import (
    Row,
    counts,
    fails,
    failure_reason,
    grown_site,
    headline_lines,
    iterations_of,
    site_amount,
    summary_rows,
    verdict_cell,
)
from .words import TABLE_HEADER, printable

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def md(text: object) -> str:
    """Text safe in a Markdown table cell or line: no markup, no HTML, one line."""
    flat = " ".join(printable(text, layout=True).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)


def code(text: object) -> str:
    """A code span that survives any content: fenced with more backticks than it holds."""
    flat = " ".join(printable(text, layout=True).split()).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    return f"{fence} {flat} {fence}"


def table(rows: Sequence[Row]) -> list[str]:
    lines = [
        "| " + " | ".join(TABLE_HEADER) + " |",
        "| " + " | ".join(("---",) * 2 + ("---:",) * 6 + ("---",)) + " |",
    ]
    for row in rows:
        cells = [code(row.cells[0]), *(md(cell) for cell in row.cells[1:])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def failure_lines(scenario: Mapping[str, Any]) -> list[str]:
    """A failing scenario in a few lines: the findings that failed it and where to look."""
    lines = [f"{code(scenario.get('id', ''))}: **{md(verdict_cell(scenario))}**", ""]
    reason = failure_reason(scenario)
    lines.extend(f"- {md(text)}" for text in ([reason] if reason else []) + headline_lines(scenario))
    change = None
    if scenario.get("verdict") == "regression":  # the user's own line first: that is what they can change
        change = grown_site(scenario, project_only=True) or grown_site(scenario)
    if change is not None:
        function = md(change.site.get("function", "?"))
        amount = md(site_amount(change, iterations_of(scenario)))
        lines.append(f"- top allocation site: {code(change.location)} in {function}: {amount}")
    return [*lines, ""]


def render_markdown(document: Mapping[str, Any], *, title: str = "memgate") -> str:
    """The summary table and, for each failure, the two or three lines that matter."""
    scenarios = list(document.get("scenarios") or ())
    lines = [f"## {md(title)}: {md(counts(document))}", ""]
    if scenarios:
        lines += [*table(summary_rows(document)), ""]
    lines += failures_section(scenarios)
    return "\n".join(lines).rstrip() + "\n"


def failures_section(scenarios: list[dict[str, Any]]) -> list[str]:
    """Each failing scenario's paragraph under one heading (the report and the pull-request
    comment both end with it)."""
    failing = [s for s in scenarios if fails(s)]
    if not failing:
        return []
    lines = ["### Failures", ""]
    for scenario in failing:
        lines += failure_lines(scenario)
    return lines
