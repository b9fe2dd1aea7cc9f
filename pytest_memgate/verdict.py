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
from .stats import Comparison, compare_levels, compare_rates
from .units import format_percent, format_size


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
        f"{c.n_baseline} baseline runs; one-sided Welch test on log peaks p = "
        f"{_p(c.p_increase)} (regression needs p < {_p(alpha)} and more than "
        f"{tolerance:.0%} and {format_size(min_bytes)})"
    )
    return Finding(metric, reason, c, regressed, improved, ambiguous, text, big_up)


def _judge_rate(metric: str, c: Comparison, tolerance: float, relative: float, alpha: float) -> Finding:
    needed = max(tolerance, relative * abs(c.baseline))
    regressed = c.delta > needed and c.p_increase < alpha
    improved = -c.delta > needed and c.p_decrease < alpha
    ambiguous = not regressed and (c.delta > needed or c.delta_high > needed)
    text = (
        f"{metric} per call went from {format_size(c.baseline, signed=True)} to "
        f"{format_size(c.current, signed=True)} per call (change "
        f"{format_size(c.delta, signed=True)}/call, 95% CI {format_size(c.delta_low, signed=True)}"
        f" to {format_size(c.delta_high, signed=True)}) over {c.n_current} runs against "
        f"{c.n_baseline} baseline runs; one-sided Welch test on per-run Theil-Sen slopes "
        f"p = {_p(c.p_increase)} (regression needs p < {_p(alpha)} and more than "
        f"{format_size(needed)}/call)"
    )
    return Finding(metric, "growth", c, regressed, improved, ambiguous, text, c.delta > needed)


def _budgets(
    spec: ScenarioSpec, current: Sequence[RunSummary], trend_p: float, alpha: float
) -> list[Finding]:
    findings = []
    if spec.max_peak is not None:
        peak = statistics.median(r.peak_heap_bytes for r in current)
        over = peak > spec.max_peak
        findings.append(
            Finding(
                "heap peak",
                "budget",
                None,
                over,
                False,
                False,
                f"heap peak {format_size(peak)} (median of {len(current)} runs) "
                f"{'exceeds' if over else 'is within'} the budget max_peak="
                f"{format_size(spec.max_peak)}",
            )
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
                f"runs, trend p = {_p(trend_p)}) {'exceeds' if over else 'is within'} the "
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
        _judge_rate("heap growth", heap_growth, policy.growth_tolerance, policy.growth_relative, a),
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
        return Verdict(Outcome.REGRESSION, reasons, tuple(findings), _message(regressed))
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


def _message(findings: Sequence[Finding]) -> str:
    return "; ".join(f.text for f in findings)
