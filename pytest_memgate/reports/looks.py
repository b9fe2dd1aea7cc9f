"""The words of the live progress lines: what each look at a scenario's runs concluded, and
why more runs follow. Apart from ``words.py`` so that file stays the findings' and notes'
sentences; the phrasing of a change and its tolerance is the same in both."""

from __future__ import annotations

import math

from ..results import Doubt, Finding, LevelTest, Outcome, RateTest, ScreenDoubt, Verdict
from ..units import format_percent, format_size
from .words import tolerance_text


def _change(finding: Finding) -> str:
    e = finding.evidence
    if isinstance(e, LevelTest):
        return f"{finding.metric.value} {format_percent(e.comparison.ratio)}"
    if isinstance(e, RateTest):
        return f"{finding.metric.value} {format_size(e.comparison.delta, signed=True)}/call"
    return finding.metric.value


def _tolerance(finding: Finding) -> str:
    e = finding.evidence
    return tolerance_text(e) if isinstance(e, (LevelTest, RateTest)) else "its"


def look_text(verdict: Verdict, stopping: bool) -> str:
    """What a look concluded, and when it asks for more runs, why (the progress line)."""
    outcome = verdict.outcome
    if stopping:
        reasons = f" ({', '.join(r.value for r in verdict.reasons)})" if verdict.reasons else ""
        return f"{outcome.value}{reasons}"
    if outcome in (Outcome.REGRESSION, Outcome.IMPROVED):
        moved = ", ".join(_change(f) for f in verdict.findings if f.regressed or f.improved)
        return f"{outcome.value} seen ({moved}); another run must confirm it"
    unclear = []
    for f in verdict.findings:
        if not f.ambiguous:
            continue
        if f.past_tolerance:
            unclear.append(f"{_change(f)}, past the {_tolerance(f)} tolerance but not yet proven")
        else:
            unclear.append(f"{_change(f)}, interval still reaches the {_tolerance(f)} tolerance")
    return "more runs: " + "; ".join(unclear) if unclear else "more runs"


def screen_text(verdict: Verdict, doubt: ScreenDoubt | None) -> str:
    """What the cheap first look concluded: a clear pass, or why the traced runs follow."""
    if doubt is None:
        return look_text(verdict, True)
    if doubt.kind is Doubt.IMPROVEMENT and doubt.finding is not None:
        fell = doubt.finding
        why = f"{_change(fell)}, a fall past the {_tolerance(fell)} tolerance that traced runs can record"
    elif doubt.kind is Doubt.BLOCKS:
        why = (
            "no pymalloc block counts to rule out growth in small objects"
            if math.isinf(doubt.blocks_per_call)
            else f"pymalloc blocks up to {doubt.blocks_per_call:+.2f}/call over the baseline's: "
            f"small objects could hide up to {format_size(doubt.bytes_per_call)}/call from malloc's counter"
        )
    else:
        why = look_text(verdict, False)
    return f"not a clear pass ({why}): traced runs follow"


def run_figures(peak: float, growth: float, rss_peak: float, rss_growth: float, seconds: float) -> str:
    return (
        f"heap peak {format_size(peak)}, heap growth {format_size(growth, signed=True)}/call, "
        f"RSS peak {format_size(rss_peak)}, RSS growth {format_size(rss_growth, signed=True)}/call "
        f"({seconds:.1f} s)"
    )
