"""The sentences people read: findings, verdicts and notes put into words, in one place.

Every renderer (the failure text, the summary table, the JSON report's ``message`` and
``text`` fields, ``memgate diff``) words results through these functions, so one change
reads the same wherever it is shown.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Sequence

from ..config import option_default
from ..findings import unvouched
from ..results import (
    BudgetCheck,
    Comparison,
    ExponentFit,
    Finding,
    LevelTest,
    Note,
    NoteKind,
    Outcome,
    ProductionCheck,
    RateTest,
    Reason,
    Scaling,
    ScalingTest,
    Verdict,
)
from ..units import format_percent, format_size, plural

# The scenario table's columns in the Markdown and HTML summaries (the terminal and `memgate
# diff` show each metric from the baseline to now: reports/compare.py).
TABLE_HEADER = (
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

_BASELINE_RUNS: int = option_default("baseline_runs")  # the default a smaller baseline is told about


# C0 and C1 controls (ANSI escapes, newlines, CR, tabs) and the invisible marks that reorder
# or split text (bidirectional overrides, line separators): in an id they could recolour the
# terminal, forge a line of the log (a second GitHub workflow command) or make it read as another.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]")
# The same but tabs and newlines, for a renderer that lays text out itself.
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def printable(text: object, *, layout: bool = False) -> str:
    """``text`` on one line with its control characters spelled out as pytest spells them in
    ids (``\\n``, ``\\x1b[31m``): a test id or a path shown by the gate must never drive the
    terminal or split a line of the log. With ``layout`` (a Markdown cell that flattens
    whitespace, an HTML page that escapes it), tabs and newlines stay and every other
    control is spelled by its code."""
    if layout:
        return _HIDDEN.sub(_code, str(text))
    return _UNPRINTABLE.sub(_spelled, str(text))


def _spelled(match: re.Match[str]) -> str:
    return _NAMED.get(match.group()) or _code(match)


def _code(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def p_text(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def p_equals(p: float) -> str:
    """``= 0.003`` or ``< 1e-16`` (below that a normal tail rounds to zero)."""
    return "< 1e-16" if p < 1e-16 else f"= {p_text(p)}"


def _exponent(fit: ExponentFit) -> str:
    return f"peak grows as n^{fit.exponent:.2f} (95% CI {fit.low:.2f} to {fit.high:.2f})"


_LEVEL_TESTS = {
    "pooled": "one-sided t-test on log peaks (one spread for both sides)",
    "larger": "one-sided t-test on log peaks (the larger side's spread)",
    "welch": "one-sided Welch test on log peaks",
}


_RATE_TESTS = {
    "pooled": "t-test (one spread for both sides)",
    "larger": "t-test (the larger side's spread)",
    "current": "t-test (pooled spread, never below the current runs')",
    "welch": "Welch test",
}


def _unvouched(c: Comparison, noise: float) -> str:
    if not unvouched(c, noise):
        return ""
    return (
        f"; this run's floor scatters {noise:.1f}x as much as the baseline runs' did, so one run "
        "cannot vouch for it: one more run"
    )


def _evidence(c: Comparison, test: str, alpha: float, size: str) -> str:
    """``over 2 runs against 6 baseline runs; <test> p = ...``: for a fall, the evidence of a
    fall (``p = 1`` for a rise reads as no evidence at all) and what an improvement needs."""
    runs = f"over {plural(c.n_current, 'run')} against {plural(c.n_baseline, 'baseline run')}"
    if c.delta < 0:
        verdict = f"p {p_equals(c.p_decrease)} for a fall (an improvement needs p < {p_text(alpha)}"
    else:
        verdict = f"p {p_equals(c.p_increase)} (regression needs p < {p_text(alpha)}"
    return f"{runs}; {test} {verdict} and more than {size})"


def tolerance_text(e: LevelTest | RateTest) -> str:
    """The practical size a change must pass: the failure text and the progress lines say it
    alike (``2% and 256.0 KiB``, ``256 B/call``)."""
    if isinstance(e, LevelTest):
        return f"{e.tolerance:.0%} and {format_size(e.min_bytes)}"
    return f"{format_size(e.needed)}/call"


def _level(metric: str, e: LevelTest) -> str:
    c = e.comparison
    held = _unvouched(c, e.noise)
    if e.unseen_p > e.unseen_alpha:
        # ``stats.unseen_level``: odd runs of an unchanged scenario may still explain the jump.
        level = (
            "as high as a run the baseline showed once"
            if e.unseen_seen == 1
            else f"as high as {e.unseen_seen} of the baseline's runs"
            if e.unseen_seen
            else "on a level the baseline never showed"
        )
        every = not e.unseen_high or e.unseen_high >= c.n_current  # 0: a result from before the count
        runs = "every run sits" if every else f"{e.unseen_high} of {c.n_current} runs sit"
        small = c.n_baseline < _BASELINE_RUNS
        fewer = " (fewer against a baseline of more runs: baseline_runs)" if small else ""
        more = (
            f"{e.unseen_runs} runs on that level in all confirm it{fewer}"
            if e.unseen_runs
            else "more runs confirm it"
            if every
            else "the others stay on the baseline's level"
        )
        held += (
            f"; {runs} {level}, which odd runs could still "
            f"explain (chance {p_text(e.unseen_p)}, needs < {p_text(e.unseen_alpha)}): {more}"
        )
    return (
        f"{metric} {'grew' if c.delta >= 0 else 'fell'} from {format_size(c.baseline)} to "
        f"{format_size(c.current)} ({format_percent(c.ratio)}, 95% CI "
        f"{format_percent(c.ratio_low)} to {format_percent(c.ratio_high)}; "
        f"{format_size(c.delta, signed=True)}) "
        + _evidence(
            c,
            _LEVEL_TESTS.get(e.spread, e.spread),
            e.alpha,
            tolerance_text(e),
        )
        + held
    )


def _rate(metric: str, e: RateTest) -> str:
    c = e.comparison
    test = _RATE_TESTS.get(e.spread) or ("t-test (one spread for both sides)" if e.pooled else "Welch test")
    return (
        f"{metric} per call went from {format_size(c.baseline, signed=True)} to "
        f"{format_size(c.current, signed=True)} per call (change "
        f"{format_size(c.delta, signed=True)}/call, 95% CI {format_size(c.delta_low, signed=True)}"
        f" to {format_size(c.delta_high, signed=True)}) "
        + _evidence(c, f"one-sided {test} on per-run Theil-Sen slopes", e.alpha, tolerance_text(e))
        + _unvouched(c, e.noise)
    )


def _budget(metric: str, e: BudgetCheck, over: bool) -> str:
    verb = "exceeds" if over else "is within"
    if e.trend_p is not None:  # a growth budget
        if e.alpha is None:  # an older report: a trend test on the floor
            return (
                f"{metric} {format_size(e.value, signed=True)}/call (median of {e.runs} runs, trend p "
                f"{p_equals(e.trend_p)}) {verb} the budget {e.name}={format_size(e.limit)}/call"
            )
        return (
            f"{metric} {format_size(e.value, signed=True)}/call (median of {plural(e.runs, 'run')}; "
            f"one-sided test on per-run slopes p {p_equals(e.trend_p)}, over it needs p < {p_text(e.alpha)}) "
            f"{verb} the budget {e.name}={format_size(e.limit)}/call"
        )
    budget = f"{e.name}={format_size(e.limit)}"
    return f"{metric} {format_size(e.value)} (median of {plural(e.runs, 'run')}) {verb} the budget {budget}"


def _scaling(e: ScalingTest, over: bool) -> str:
    shape = _exponent(e.fit)
    if e.max_exponent is not None:
        verb = "exceeds" if over else "within"
        if e.p is None:
            return f"{shape}; {verb} the budget max_exponent={e.max_exponent:g}"
        return (
            f"{shape}; {verb} the budget max_exponent={e.max_exponent:g} (one-sided test p "
            f"{p_equals(e.p)}, over it needs p < {p_text(e.alpha or 0.0)})"
        )
    return (
        f"{shape}, against n^{e.baseline_exponent or 0:.2f} in the baseline; one-sided test on the "
        f"exponent p {p_equals(e.p if e.p is not None else 1.0)} (regression needs p < "
        f"{p_text(e.alpha or 0.0)} and an increase of more than {e.tolerance or 0:g})"
    )


def _production(e: ProductionCheck) -> str:
    if not math.isfinite(e.point):
        return f"heap peak at production size {e.size:,} cannot be extrapolated: too few runs for a fit"
    text = (
        f"{_exponent(e.fit)}; extrapolated heap peak at production size {e.size:,}: "
        f"{format_size(e.point)} (95% upper bound {format_size(e.upper)})"
    )
    over = [(name, size) for name, size in e.limits if e.point > size]
    if over:
        return text + "; exceeds " + ", ".join(f"{name} ({format_size(size)})" for name, size in over)
    if e.limits:
        return text + "; within " + ", ".join(f"{name} ({format_size(size)})" for name, size in e.limits)
    return text


def finding_text(finding: Finding) -> str:
    """One finding in a sentence: what moved, by how much, and how sure the gate is."""
    e = finding.evidence
    metric = finding.metric.value
    if isinstance(e, LevelTest):
        return _level(metric, e)
    if isinstance(e, RateTest):
        return _rate(metric, e)
    if isinstance(e, BudgetCheck):
        return _budget(metric, e, finding.regressed)
    if isinstance(e, ScalingTest):
        return _scaling(e, finding.regressed)
    return _production(e)


def findings_text(findings: Sequence[Finding]) -> str:
    return "; ".join(finding_text(f) for f in findings)


def error_text(verdict: Verdict) -> str:
    """How the failing run ended, with the scenario's traceback when it raised."""
    text = verdict.error.strip()
    if not verdict.reasons and verdict.error_run == 0:  # no run failed: the gate could not judge it
        return text
    status = verdict.reasons[0] if verdict.reasons else Reason.CRASHED
    first_line = text.splitlines()[0] if text else status.value
    message = f"run {verdict.error_run} {status.value.replace('_', ' ')}: {first_line}"
    if status is Reason.RAISED and "\n\n" in text:
        message += "\n\n" + text.split("\n\n", 1)[1]
    return message


def skip_reason(notes: Sequence[Note]) -> str:
    """Why a baseline entry was not compared, in a few words (the table's verdict cell)."""
    for note in notes:
        if note.kind is NoteKind.ENVIRONMENT:
            return f"environment differs: {_differences(note)}"
        if note.kind is NoteKind.BACKEND:
            return f"baseline from {note.old}"
        if note.kind is NoteKind.TRACE_MODE:
            return f"baseline traced with trace_python_allocators={note.old}"
    return "not compared"


def verdict_message(verdict: Verdict, notes: Sequence[Note] = ()) -> str:
    """The verdict in a paragraph (the report's ``message``)."""
    outcome = verdict.outcome
    if outcome is Outcome.ERROR:
        if Reason.ENVIRONMENT in verdict.reasons:
            return next(
                (note_text(n) for n in notes if n.kind is NoteKind.ENVIRONMENT), "environment differs"
            )
        threads = next((n for n in notes if n.kind is NoteKind.THREADS), None)
        if Reason.TIMED_OUT in verdict.reasons and threads is not None:
            return f"{error_text(verdict)}; {note_text(threads)}"
        return error_text(verdict)
    if outcome is Outcome.SKIPPED and verdict.error:  # pytest skipped it: nothing was measured
        return verdict.error
    if outcome is Outcome.SKIPPED:
        return f"not compared with its baseline ({skip_reason(notes)}); only budgets were checked"
    if outcome is Outcome.REGRESSION:
        message = findings_text(verdict.regressed)
        if verdict.suspects:  # the gate stops at the first proof; what else moved is still news
            message += "; also past its tolerance, not yet proven: " + findings_text(verdict.suspects)
        return message
    if outcome is Outcome.NEW:
        return "no baseline yet for this scenario; record one with --memgate-update"
    if outcome is Outcome.INCONCLUSIVE:
        if verdict.needs_more_runs:
            return findings_text([f for f in verdict.findings if f.ambiguous])
        return "evidence is not conclusive after the maximum number of runs: " + findings_text(
            verdict.suspects
        )
    if outcome is Outcome.IMPROVED:
        improved = [f for f in verdict.findings if f.improved]
        return findings_text(improved) + ". Refresh the baseline to lock the improvement in."
    return "within the baseline"


def _differences(note: Note) -> str:
    return ", ".join(f"{what} {old} -> {new}" for what, old, new in note.differences)


def note_text(note: Note) -> str:
    kind = note.kind
    if kind is NoteKind.TRACE_MODE:
        return (
            f"baseline was measured with trace_python_allocators={note.old}, this run uses "
            f"{note.new}; not compared (small objects are counted differently); re-record the baseline"
        )
    if kind is NoteKind.BACKEND:
        return (
            f"baseline was measured with {note.old}, this run uses {note.new}; not compared "
            "(record a baseline per backend, e.g. baseline = '.memgate/{backend}.json')"
        )
    if kind is NoteKind.ENVIRONMENT:
        what = _differences(note)
        if note.policy == "warn":
            return f"baseline environment differs ({what}); compared anyway"
        if note.policy == "fail":
            return f"baseline environment differs ({what}) and env_mismatch = 'fail'"
        return (
            f"baseline environment differs ({what}); not compared (env_mismatch = 'skip'). "
            "Re-record on this environment, or keep one baseline per environment with a path "
            "such as '.memgate/{python}-{machine}.json'"
        )
    if kind is NoteKind.THREADS:
        return (
            f"threads alive in the pytest process ({', '.join(note.names)}) do not exist in the "
            "measured child: a scenario that waits on one (a server or a worker pool a fixture "
            "started) hangs until the timeout; start such threads inside the scenario or its warm-up"
        )
    if kind is NoteKind.SCREENED:
        return (
            "passed on the cheap first look: one run whose peak memray traced over its first "
            "measured calls, its floors read from malloc's and pymalloc's counters, compared "
            "with the baseline's cheap runs"
        )
    if kind is NoteKind.FUTILITY:
        return (
            f"passed after {note.count} of up to {note.wanted} runs: each estimate still open sat "
            "under a quarter of its practical size, so more runs would most likely have ended in "
            "this pass "
            "too and were not taken"
        )
    if kind is NoteKind.SMALL_BASELINE:
        return (
            f"the baseline holds {plural(note.count, 'run')} of this scenario, fewer than "
            f"baseline_runs = {note.wanted}; its spread is known only roughly, which makes small "
            "regressions hard to prove: re-record it with --memgate-update"
        )
    return (
        "still warming up: the heap floor rose for part of the measured calls, then "
        f"levelled off; raise warmup to {note.count}"
    )


def not_written_text(nodeid: str, outcome: str) -> str:
    """Why an update left a scenario's entry as it was, and what to do, per outcome: an
    error has nothing to accept, an increase may be accepted on purpose."""
    accept = f"--memgate-accept {shlex.quote(nodeid)} --memgate-reason '...'"
    advice = {
        "error": "it erred, so there are no figures to record; fix the error and rerun",
        "regression": f"it regressed; fix it, or record the increase on purpose with {accept}",
        "inconclusive": (
            "it is inconclusive: an increase neither proven nor ruled out; rerun to settle it, "
            f"or record the figures on purpose with {accept}"
        ),
        "skipped": (
            "its baseline entry was not compared (another environment, backend or mode), and an "
            "update branch never replaces what it could not compare; record it for this "
            "environment with --memgate-update"
        ),
    }.get(outcome, f"its outcome is {outcome}")
    return f"baseline NOT updated for {nodeid}: {advice}"


def scaling_text(scaling: Scaling) -> str:
    """A family's exponent for the terminal: the fit, its sizes, the baseline's, and the
    extrapolated production peak when one was asked for."""
    sizes = ", ".join(f"{n:,}" for n in scaling.sizes)
    old = scaling.baseline_exponent
    text = f"{_exponent(scaling.fit)} over sizes {sizes}; " + (
        f"baseline n^{old:.2f}" if old is not None else "no baseline exponent"
    )
    peak, upper = scaling.production_peak_bytes, scaling.production_peak_upper_bytes
    if scaling.production_size is not None and peak is not None and math.isfinite(peak):
        text += f"; extrapolated heap peak at {scaling.production_size:,}: {format_size(peak)}"
        if upper is not None and math.isfinite(upper):
            text += f" (95% upper bound {format_size(upper)})"
    return text
