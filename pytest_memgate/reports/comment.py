"""The pull-request comment: the Markdown report with a hidden marker and a digest of the
verdicts, cut to fit GitHub's limits.

One comment per pull request: the marker lets a CI job find the comment it posted before
and edit it in place; the digest lets it leave that comment alone while the verdicts stay
the same, so reviewers are notified when the gate's answer changes, not on every push.
Everything here is text in, text out, so the decision is tested with the package.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .document import FAILING_VERDICTS, counts, fails, summary_rows
from .markdown import failures_section, md, table

MARKER = "<!-- memgate-comment -->"
_DIGEST = re.compile(r"<!-- memgate-verdicts: (sha256:[0-9a-f]{64}) -->")
# GitHub refuses a comment body over 65,536 characters.
COMMENT_LIMIT = 65_536
# A step's summary is refused (not shown at all) over 1 MiB.
STEP_SUMMARY_LIMIT = 1024 * 1024
TITLE = "memgate"


def verdicts_digest(document: Mapping[str, Any]) -> str:
    """What the comment says in one value: each scenario's verdict, its reasons and, when it
    is not what the verdict alone gives (``inconclusive = "fail"``, ``--memgate-strict``, an
    accepted increase), whether it fails. Figures move from run to run; a new digest means
    the gate's answer changed (or a scenario came or went)."""
    verdicts = sorted(
        (str(s.get("id", "")), str(s.get("verdict", "?")), sorted(map(str, s.get("reasons") or ())))
        + (() if fails(s) == (s.get("verdict") in FAILING_VERDICTS) else (fails(s),))
        for s in document.get("scenarios") or ()
    )
    text = json.dumps(verdicts, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def digest_in(body: str) -> str | None:
    """The verdicts' digest of a comment this module wrote, else None (another comment, or
    none: a comment is posted then)."""
    if MARKER not in body:
        return None
    match = _DIGEST.search(body)
    return match.group(1) if match else None


def fit(
    text: str,
    limit: int,
    *,
    measure: Callable[[str], int] = len,
    unit: str = "characters",
    stated: int | None = None,
    where: str = "the JSON and HTML reports",
) -> str:
    """``text`` whole when it fits in ``limit``, else cut after its last whole line that
    leaves room for a line saying how much was left out and where the rest is. ``stated``
    is GitHub's limit when ``limit`` is what is left of it beside other text."""
    if measure(text) <= limit:
        return text
    lines = text.splitlines(keepends=True)

    def note(left_out: int) -> str:
        return (
            f"\n**Truncated:** {left_out} more line(s) did not fit in GitHub's limit of "
            f"{stated or limit:,} {unit}; the full report is in {where}.\n"
        )

    budget = limit - measure(note(len(lines)))  # the longest the note can be
    if budget < 0:  # not even the note fits: say nothing rather than exceed the limit
        return ""
    kept: list[str] = []
    used = 0
    for line in lines:
        size = measure(line)
        if used + size > budget:
            break
        kept.append(line)
        used += size
    return "".join(kept).rstrip("\n") + "\n" + note(len(lines) - len(kept))


def _sections(document: Mapping[str, Any], *, passing_rows: bool, notes: Sequence[str]) -> str:
    """render_markdown's layout (heading, table, failures), with notes under the heading and,
    when ``passing_rows`` is false, the table cut to the scenarios that did not pass."""
    scenarios = list(document.get("scenarios") or ())
    lines = [f"## {md(TITLE)}: {md(counts(document))}", ""]
    lines += [line for text in notes for line in (text, "")]
    rows = summary_rows(document)
    shown = rows if passing_rows else [row for row in rows if row.verdict != "pass"]
    if not passing_rows and len(shown) < len(rows):
        left_out = len(rows) - len(shown)
        lines += [f"_{left_out} passing scenario(s) are left out of the table to fit GitHub's limit._", ""]
    if shown:
        lines += [*table(shown), ""]
    lines += failures_section(scenarios)
    return "\n".join(lines).rstrip() + "\n"


def comment_body(
    document: Mapping[str, Any],
    *,
    report_only: bool = False,
    details_url: str | None = None,
    limit: int = COMMENT_LIMIT,
) -> str:
    """The comment: marker and digest (hidden), the summary table and the failures.

    Over ``limit`` characters, the passing scenarios' rows go first (the failures are what a
    reviewer needs), then whole lines from the end; either way the comment says so."""
    head = f"{MARKER}\n<!-- memgate-verdicts: {verdicts_digest(document)} -->\n"
    notes = []
    if report_only:
        notes.append("> Report only: the memory gate does not fail this pull request.")
    tail = (
        f"\n[The full report and flame graphs]({details_url}) are in the run's artifacts.\n"
        if details_url
        else ""
    )
    where = "the run's artifacts" if details_url else "the JSON and HTML reports"
    room = limit - len(head) - len(tail)
    text = _sections(document, passing_rows=True, notes=notes)
    if len(text) > room:
        text = _sections(document, passing_rows=False, notes=notes)
    return head + fit(text, max(room, 0), stated=limit, where=where) + tail


def should_post(document: Mapping[str, Any], previous_body: str | None) -> bool:
    """Post (or edit) unless the existing comment already shows these verdicts."""
    return previous_body is None or digest_in(previous_body) != verdicts_digest(document)
