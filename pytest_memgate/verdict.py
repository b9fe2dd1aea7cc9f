"""Comparison + thresholds -> a verdict: statistical evidence *and* a practical size.

A metric regresses only when the one-sided test says the increase is real at the
scenario's significance level and the estimated increase is larger than the practical
tolerance (relative and absolute). Budgets from the marker apply with or without a
baseline. A metric whose estimate is past the tolerance without enough evidence, or
whose interval still reaches past it, is *ambiguous*: the runner adds runs, and after the
last run it is reported as inconclusive instead of guessed.
"""

from __future__ import annotations

import enum
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from .marker import ScenarioSpec
from .model import RunSummary
from .stats import (
    Comparison,
    PowerFit,
    compare_levels,
    compare_rates,
    exponent_increase_p,
    predict_power_law,
)
from .units import format_percent, format_size

# Metrics compared with the baseline: heap peak, heap growth, RSS peak, RSS growth.
COMPARISONS = 4


class Outcome(str, enum.Enum):
    PASS = "pass"
    REGRESSION = "regression"
    IMPROVED = "improved"
    NEW = "new"
    ERROR = "error"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, slots=True)
class Policy:
    alpha: float  # per-scenario level (already corrected for the number of scenarios)
    peak_tolerance: float = 0.03
    peak_min_bytes: int = 256 * 1024
    growth_tolerance: float = 256.0
    rss_peak_tolerance: float = 0.10
    rss_peak_min_bytes: int = 16 * 1024**2
    rss_growth_tolerance: float = 16 * 1024
    growth_relative: float = 0.25  # growth must also rise by this fraction of the baseline's
    peak_resolution: float = 0.001
    growth_resolution: float = 8.0
    rss_growth_resolution: float = 256.0
    exponent_tolerance: float = 0.25  # peak ~ n**b: an increase of b beyond this counts


@dataclass(frozen=True, slots=True)
class Finding:
    metric: str  # "heap peak", "heap growth", "RSS peak", "RSS growth"
    reason: str  # "peak", "growth" or "budget"
    comparison: Comparison | None
    regressed: bool
    improved: bool
    ambiguous: bool  # more runs could change the answer
    text: str
    past_tolerance: bool = False  # the estimate alone is past the practical tolerance


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    reasons: tuple[str, ...]
    findings: tuple[Finding, ...]
    message: str
    needs_more_runs: bool = False


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def _eq(p: float) -> str:
    """``= 0.003`` or ``< 1e-16`` (below that a normal tail rounds to zero)."""
    return "< 1e-16" if p < 1e-16 else f"= {_p(p)}"


def _judge_level(
    metric: str, reason: str, c: Comparison, tolerance: float, min_bytes: float, alpha: float
) -> Finding:
    big_up = c.ratio - 1 > tolerance and c.delta > min_bytes
    big_down = 1 - c.ratio > tolerance and -c.delta > min_bytes
    regressed = big_up and c.p_increase < alpha
    improved = big_down and c.p_decrease < alpha
    reach_up = c.ratio_high - 1 > tolerance and c.delta_high > min_bytes
    ambiguous = not regressed and (big_up or reach_up)  # too few runs: always ask for more
    text = (
        f"{metric} {'grew' if c.delta >= 0 else 'fell'} from {format_size(c.baseline)} to "
        f"{format_size(c.current)} ({format_percent(c.ratio)}, 95% CI "
        f"{format_percent(c.ratio_low)} to {format_percent(c.ratio_high)}; "
        f"{format_size(c.delta, signed=True)}) over {c.n_current} runs against "
        f"{c.n_baseline} baseline runs; one-sided Welch test on log peaks p "
        f"{_eq(c.p_increase)} (regression needs p < {_p(alpha)} and more than "
        f"{tolerance:.0%} and {format_size(min_bytes)})"
    )
    return Finding(metric, reason, c, regressed, improved, ambiguous, text, big_up)


def _judge_rate(
    metric: str, c: Comparison, tolerance: float, relative: float, alpha: float, test: str = "Welch test"
) -> Finding:
    needed = max(tolerance, relative * abs(c.baseline))
    regressed = c.delta > needed and c.p_increase < alpha
    improved = -c.delta > needed and c.p_decrease < alpha
    ambiguous = not regressed and (c.delta > needed or c.delta_high > needed)
    text = (
        f"{metric} per call went from {format_size(c.baseline, signed=True)} to "
        f"{format_size(c.current, signed=True)} per call (change "
        f"{format_size(c.delta, signed=True)}/call, 95% CI {format_size(c.delta_low, signed=True)}"
        f" to {format_size(c.delta_high, signed=True)}) over {c.n_current} runs against "
        f"{c.n_baseline} baseline runs; one-sided {test} on per-run Theil-Sen slopes "
        f"p {_eq(c.p_increase)} (regression needs p < {_p(alpha)} and more than "
        f"{format_size(needed)}/call)"
    )
    return Finding(metric, "growth", c, regressed, improved, ambiguous, text, c.delta > needed)


def _level_budget(metric: str, name: str, values: Sequence[float], budget: float) -> Finding:
    level = statistics.median(values)
    over = level > budget
    return Finding(
        metric,
        "budget",
        None,
        over,
        False,
        False,
        f"{metric} {format_size(level)} (median of {len(values)} runs) "
        f"{'exceeds' if over else 'is within'} the budget {name}={format_size(budget)}",
    )


def _budgets(
    spec: ScenarioSpec, current: Sequence[RunSummary], trend_p: float, alpha: float
) -> list[Finding]:
    """Absolute budgets from the marker; ``spec`` carries bytes (shares already resolved)."""
    findings = []
    if spec.max_peak is not None:
        findings.append(
            _level_budget("heap peak", "max_peak", [r.peak_heap_bytes for r in current], spec.max_peak)
        )
    if spec.max_rss is not None:
        findings.append(
            _level_budget("RSS peak", "max_rss", [r.peak_rss_bytes for r in current], spec.max_rss)
        )
    if spec.max_growth is not None:
        growth = statistics.median(r.heap_growth for r in current)
        over = growth > spec.max_growth and trend_p < alpha
        findings.append(
            Finding(
                "heap growth",
                "budget",
                None,
                over,
                False,
                False,
                f"heap growth {format_size(growth, signed=True)}/call (median of {len(current)} "
                f"runs, trend p {_eq(trend_p)}) {'exceeds' if over else 'is within'} the "
                f"budget max_growth={format_size(spec.max_growth)}/call",
            )
        )
    return findings


def compare_runs(
    current: Sequence[RunSummary], baseline: Sequence[RunSummary], policy: Policy
) -> list[Finding]:
    """The four baseline comparisons, shared by the plugin and ``memgate diff``."""
    a = policy.alpha
    heap_peak = compare_levels(
        [r.peak_heap_bytes for r in baseline],
        [r.peak_heap_bytes for r in current],
        resolution=policy.peak_resolution,
    )
    rss_peak = compare_levels(
        [r.peak_rss_bytes for r in baseline],
        [r.peak_rss_bytes for r in current],
        resolution=policy.peak_resolution,
    )
    heap_growth = compare_rates(
        [r.heap_growth for r in baseline],
        [r.heap_growth_se for r in baseline],
        [r.heap_growth for r in current],
        [r.heap_growth_se for r in current],
        resolution=policy.growth_resolution,
        pooled=True,  # heap slopes share one spread without a change (see compare_rates)
    )
    rss_growth = compare_rates(
        [r.rss_growth for r in baseline],
        [r.rss_growth_se for r in baseline],
        [r.rss_growth for r in current],
        [r.rss_growth_se for r in current],
        resolution=policy.rss_growth_resolution,
    )
    return [
        _judge_level("heap peak", "peak", heap_peak, policy.peak_tolerance, policy.peak_min_bytes, a),
        _judge_rate(
            "heap growth",
            heap_growth,
            policy.growth_tolerance,
            policy.growth_relative,
            a,
            "t-test (one spread for both sides)",
        ),
        _judge_level("RSS peak", "peak", rss_peak, policy.rss_peak_tolerance, policy.rss_peak_min_bytes, a),
        _judge_rate("RSS growth", rss_growth, policy.rss_growth_tolerance, policy.growth_relative, a),
    ]


def decide(
    current: Sequence[RunSummary],
    baseline: Sequence[RunSummary] | None,
    spec: ScenarioSpec,
    policy: Policy,
    *,
    trend_p: float = 1.0,
    final: bool = True,
) -> Verdict:
    """Verdict for one scenario; ``final=False`` lets ambiguity ask for more runs."""
    findings = _budgets(spec, current, trend_p, policy.alpha)
    if baseline:
        findings += compare_runs(current, baseline, policy)
    regressed = [f for f in findings if f.regressed]
    if regressed:
        reasons = tuple(dict.fromkeys(f.reason for f in regressed))
        message = _message(regressed)
        suspects = suspected(findings)
        if suspects:  # the gate stops at the first proof; what else moved is still news
            message += "; also past its tolerance, not yet proven: " + _message(suspects)
        return Verdict(Outcome.REGRESSION, reasons, tuple(findings), message)
    if baseline is None:
        return Verdict(
            Outcome.NEW,
            (),
            tuple(findings),
            "no baseline yet for this scenario; record one with --memgate-update",
        )
    ambiguous = [f for f in findings if f.ambiguous]
    if ambiguous and not final:
        return Verdict(Outcome.INCONCLUSIVE, (), tuple(findings), _message(ambiguous), True)
    unclear = [f for f in ambiguous if f.past_tolerance]
    if unclear:
        return Verdict(
            Outcome.INCONCLUSIVE,
            (),
            tuple(findings),
            "evidence is not conclusive after the maximum number of runs: " + _message(unclear),
        )
    improved = [f for f in findings if f.improved]
    if improved:
        return Verdict(
            Outcome.IMPROVED,
            (),
            tuple(findings),
            _message(improved) + ". Refresh the baseline to lock the improvement in.",
        )
    return Verdict(Outcome.PASS, (), tuple(findings), "within the baseline")


def suspected(findings: Sequence[Finding]) -> list[Finding]:
    """Findings whose estimate is past the tolerance without enough evidence yet."""
    return [f for f in findings if f.ambiguous and f.past_tolerance]


def _message(findings: Sequence[Finding]) -> str:
    return "; ".join(f.text for f in findings)


def judge_scaling(
    new: PowerFit,
    old: PowerFit | None,
    spec: ScenarioSpec,
    policy: Policy,
    *,
    memory_limit: int | None = None,
) -> list[Finding]:
    """How the peak grows with payload size, against the baseline and the budgets.

    A change from linear to quadratic fails even when the CI sizes' peaks are small,
    because production payloads are not small.
    """
    findings = []
    shape = f"peak grows as n^{new.exponent:.2f} (95% CI {new.low:.2f} to {new.high:.2f})"
    if old is not None:
        p = exponent_increase_p(old, new)
        grew = new.exponent - old.exponent
        regressed = grew > policy.exponent_tolerance and p < policy.alpha
        findings.append(
            Finding(
                "peak scaling",
                "scaling",
                None,
                regressed,
                False,
                False,
                f"{shape}, against n^{old.exponent:.2f} in the baseline; one-sided test on the "
                f"exponent p {_eq(p)} (regression needs p < {_p(policy.alpha)} and an increase of "
                f"more than {policy.exponent_tolerance:g})",
                grew > policy.exponent_tolerance,
            )
        )
    if spec.max_exponent is not None:
        over = new.low > spec.max_exponent
        findings.append(
            Finding(
                "peak scaling",
                "budget",
                None,
                over,
                False,
                False,
                f"{shape}; {'exceeds' if over else 'within'} the budget max_exponent={spec.max_exponent:g}",
            )
        )
    if spec.production_size is not None:
        point, upper = predict_power_law(new, spec.production_size)
        budgets = [(b, "max_peak") for b in (spec.max_peak,) if isinstance(b, int)]
        if memory_limit is not None:
            budgets.append((memory_limit, "the memory limit"))
        text = (
            f"{shape}; extrapolated heap peak at production size {spec.production_size:,}: "
            f"{format_size(point)} (95% upper bound {format_size(upper)})"
        )
        over = [(b, name) for b, name in budgets if point > b]
        if over:
            text += "; exceeds " + ", ".join(f"{name} ({format_size(b)})" for b, name in over)
        elif budgets:
            text += "; within " + ", ".join(f"{name} ({format_size(b)})" for b, name in budgets)
        findings.append(Finding("production peak", "budget", None, bool(over), False, False, text))
    return findings


def look_schedule(runs: int, max_runs: int, first: int | None = None) -> list[int]:
    """Run counts at which the verdict is looked at: 1, 2, 4, 8 by default.

    ``first`` (``min_runs``) is an early look for clear passes: with a baseline's spread
    to compare against, one run can show that a heap stayed put. ``runs`` is the fewest
    runs a regression needs (see ``settled``). Each look spends part of the false-alarm
    rate, so after that the gate doubles the runs rather than looking after every one.
    """
    looks = [first] if first is not None and first < runs else []
    looks.append(runs)
    while looks[-1] < max_runs:
        looks.append(min(max_runs, looks[-1] * 2))
    return looks


def settled(verdict: Verdict, runs_done: int, confirm: int, last: bool) -> bool:
    """Whether the gate may stop here.

    A pass may stop after a single run, but a regression (or an improvement) must be seen
    in ``confirm`` runs: one run cannot tell a shifted scenario from one odd run (a resize
    or a collection at an unlucky moment), and a gate that fails builds on one odd run gets
    switched off.
    """
    if last:
        return True
    if verdict.outcome in (Outcome.REGRESSION, Outcome.IMPROVED):
        return runs_done >= confirm
    return not verdict.needs_more_runs
