"""Comparison + thresholds -> a verdict: statistical evidence *and* a practical size.

A metric regresses only when the one-sided test says the increase is real at the
scenario's significance level and the estimated increase is larger than the practical
tolerance (relative and absolute). Budgets from the marker apply with or without a
baseline. A metric whose estimate is past the tolerance without enough evidence, or
whose interval still reaches past it, is *ambiguous*: the runner adds runs, and after the
last run it is reported as inconclusive instead of guessed.

Everything here decides; nothing here words. The sentences are in ``reports/words.py``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .config import GateConfig, option_default
from .findings import unvouched
from .marker import ScenarioSpec
from .model import RunSummary
from .results import (
    BudgetCheck,
    Comparison,
    Finding,
    LevelTest,
    Metric,
    Outcome,
    RateTest,
    Reason,
    Shape,
    ShapeReport,
    Verdict,
)
from .schedule import look_schedule
from .slopes import compare_rates, rate_above_p
from .stats import (
    CURRENT,
    LARGER,
    POOLED,
    WELCH,
    UnseenLevel,
    bonferroni,
    compare_levels,
    odd_runs_needed,
    unseen_level,
)

# Metrics compared with the baseline: heap peak, heap growth, RSS peak, RSS growth.
COMPARISONS = 4
# The least RSS slope error the noisier-machine guard tells apart, in B/call: about the
# rounding of 51 page-quantized readings (``metrics.scatter_se``: 11 B/call). The test's
# resolution (256 B/call) hid a quiet run's error of about 90 and a run 4x as noisy (about
# 400) below twice it: the guard fired on 27% of such runs; at this floor on 61%, and on
# 0.8% of runs from the same machine (one more run).
RSS_NOISE_FLOOR = 16.0


@dataclass(frozen=True, slots=True)
class Policy:
    alpha: float  # per-test level (already shared over scenarios, metrics and looks)
    peak_tolerance: float = option_default("peak_tolerance")
    peak_min_bytes: int = option_default("peak_min_bytes")
    growth_tolerance: float = float(option_default("growth_tolerance"))
    rss_peak_tolerance: float = option_default("rss_peak_tolerance")
    rss_peak_min_bytes: int = option_default("rss_peak_min_bytes")
    rss_growth_tolerance: float = float(option_default("rss_growth_tolerance"))
    # Statistical constants, not options: what a measurement can resolve.
    growth_relative: float = 0.25  # growth must also rise by this fraction of the baseline's
    peak_resolution: float = 0.001
    growth_resolution: float = 8.0
    rss_growth_resolution: float = 256.0
    exponent_tolerance: float = 0.25  # peak ~ n**b: an increase of b beyond this counts
    looks: int = 1  # looks over which ``alpha`` was shared (one metric's budget is alpha * looks)
    futility_runs: int = 0  # from this many runs on, futile findings stop the runs (0: never)

    @property
    def metric_alpha(self) -> float:
        """One metric's share of the session's false-alarm rate over every look: the most a
        jump off the baseline's main level may be explained by odd runs
        (``stats.unseen_level``) before it counts as a regression."""
        return self.alpha * max(self.looks, 1)

    @classmethod
    def from_config(cls, config: GateConfig, *, tests: int = 1, looks: int | None = None) -> Policy:
        """The configured tolerances, and the session's false-alarm rate shared (Bonferroni)
        over ``tests`` tests: the plugin and ``memgate diff`` build it the same way.

        ``looks``: how many of those tests one metric of one scenario takes (the adaptive
        looks); by default the configured schedule's, as the session shares the rate."""
        if looks is None:
            looks = len(look_schedule(config.runs, config.max_runs, first=config.min_runs))
        return cls(
            alpha=bonferroni(config.alpha, tests),
            looks=looks,
            peak_tolerance=config.peak_tolerance,
            peak_min_bytes=config.peak_min_bytes,
            growth_tolerance=float(config.growth_tolerance),
            rss_peak_tolerance=config.rss_peak_tolerance,
            rss_peak_min_bytes=config.rss_peak_min_bytes,
            rss_growth_tolerance=float(config.rss_growth_tolerance),
            futility_runs=config.runs,
        )

    @classmethod
    def for_session(cls, config: GateConfig, scenarios: int, looks: int) -> Policy:
        """The session's policy: its false-alarm rate shared (Bonferroni) over ``scenarios``
        scenarios, each with ``COMPARISONS`` metrics at every one of ``looks`` looks. Each
        scenario's share is ``alpha / scenarios``; a scenario that also tests a growth
        budget or a family's scaling splits its share further (``for_scenario``)."""
        return cls.from_config(config, tests=scenarios * COMPARISONS * looks, looks=looks)

    def for_scenario(self, spec: ScenarioSpec) -> Policy:
        """This policy with ``alpha`` cut so that every test ``spec`` may make fits in one
        scenario's share of the session's rate (``COMPARISONS`` tests per look): a growth
        budget is one more test per look, a family's scaling against the baseline and its
        ``max_exponent`` one more each (every size reserves them; the last size makes them).
        A scenario without them keeps the session's per-test level."""
        tests = scenario_tests(spec, self.looks)
        if tests == COMPARISONS * max(self.looks, 1):
            return self
        share = self.alpha * COMPARISONS * max(self.looks, 1)
        return replace(self, alpha=share / tests)


def scenario_tests(spec: ScenarioSpec, looks: int) -> int:
    """Tests one scenario may make: its comparisons and growth budget at every look, its
    family's scaling tests once."""
    per_look = COMPARISONS + (spec.max_growth is not None)
    once = (1 + (spec.max_exponent is not None)) if spec.sizes else 0
    return per_look * max(looks, 1) + once


def _judge_level(
    metric: Metric,
    c: Comparison,
    tolerance: float,
    min_bytes: float,
    policy: Policy,
    unseen: UnseenLevel | None = None,
    spread: str = POOLED,
    noise: float = 0.0,
) -> Finding:
    """A peak: regressed with evidence (``p < alpha``) and a practical size, unless the
    current runs sit above the baseline's main level and odd runs of an unchanged scenario
    still explain that (``unseen_p`` above one metric's budget): then it is held
    back as ambiguous, and the run loop takes confirming runs (``schedule``)."""
    alpha = policy.alpha
    unseen_p, needed = 0.0, 0
    if unseen is not None and unseen.p > 0 and not unseen.main_p < alpha:
        # runs above the main level, and none of the main level's own runs moved
        unseen_p = unseen.p
        if unseen.p > policy.metric_alpha and unseen.high == unseen.current:
            needed = odd_runs_needed(unseen.seen, unseen.baseline, policy.metric_alpha)
    evidence = LevelTest(
        c,
        alpha,
        float(tolerance),
        float(min_bytes),
        spread,
        float(unseen_p),
        policy.metric_alpha,
        noise,
        unseen.seen if unseen is not None and unseen_p else 0,
        needed,
        unseen.high if unseen is not None and unseen_p else 0,
    )
    big_up = c.ratio - 1 > tolerance and c.delta > min_bytes
    regressed = big_up and c.p_increase < alpha and unseen_p <= policy.metric_alpha
    improved = evidence.fell and c.p_decrease < alpha
    reach_up = c.ratio_high - 1 > tolerance and c.delta_high > min_bytes
    ambiguous = not regressed and (big_up or reach_up or unvouched(c, noise))
    return Finding(metric, Reason.PEAK, evidence, regressed, improved, ambiguous, big_up)


def _judge_rate(
    metric: Metric,
    c: Comparison,
    tolerance: float,
    relative: float,
    alpha: float,
    spread: str,
    noise: float = 0.0,
) -> Finding:
    needed = max(tolerance, relative * abs(c.baseline))
    evidence = RateTest(c, alpha, float(needed), spread != WELCH, spread, noise)
    regressed = c.delta > needed and c.p_increase < alpha
    improved = evidence.fell and c.p_decrease < alpha
    ambiguous = not regressed and (c.delta > needed or c.delta_high > needed or unvouched(c, noise))
    return Finding(metric, Reason.GROWTH, evidence, regressed, improved, ambiguous, c.delta > needed)


def _level_budget(metric: Metric, name: str, values: Sequence[float], budget: float) -> Finding:
    level = statistics.median(values)
    check = BudgetCheck(name, float(budget), float(level), len(values))
    return Finding(metric, Reason.BUDGET, check, level > budget)


def _budgets(
    spec: ScenarioSpec,
    current: Sequence[RunSummary],
    baseline: Sequence[RunSummary] | None,
    policy: Policy,
) -> list[Finding]:
    """Absolute budgets from the marker; ``spec`` carries bytes (shares already resolved).

    A growth budget is a test, counted in the scenario's share of the false-alarm rate
    (``Policy.for_scenario``): over it when the median slope is and the runs' slopes prove
    it (``slopes.rate_above_p``, the baseline's runs lending their spread); past it without
    proof, it asks for more runs."""
    findings = []
    if spec.max_peak is not None:
        peaks = [r.peak_heap_bytes for r in current]
        findings.append(_level_budget(Metric.HEAP_PEAK, "max_peak", peaks, spec.max_peak))
    if spec.max_rss is not None:
        peaks = [r.peak_rss_bytes for r in current]
        findings.append(_level_budget(Metric.RSS_PEAK, "max_rss", peaks, spec.max_rss))
    if spec.max_growth is not None:
        growth = statistics.median(r.heap_growth for r in current)
        p = rate_above_p(
            [r.heap_growth for r in current],
            [r.heap_growth_se for r in current],
            float(spec.max_growth),
            baseline=[r.heap_growth for r in baseline or ()],
            resolution=policy.growth_resolution,
        )
        past = growth > spec.max_growth
        over = past and p < policy.alpha
        check = BudgetCheck(
            "max_growth", float(spec.max_growth), float(growth), len(current), p, policy.alpha
        )
        # Past the budget without proof yet: more runs, and inconclusive if they never prove it.
        findings.append(
            Finding(Metric.HEAP_GROWTH, Reason.BUDGET, check, over, False, past and not over, past)
        )
    return findings


def compare_runs(
    current: Sequence[RunSummary], baseline: Sequence[RunSummary], policy: Policy
) -> list[Finding]:
    """The four baseline comparisons, shared by the plugin and ``memgate diff``.

    Heap figures come from memray's counts, which do not depend on the machine's load:
    without a change both sides share one spread, so the heap peak uses Student's pooled
    test (exact at every look). Heap growth pools too, but never below the current runs' own
    spread: not fooled by current runs whose slopes scatter more than the baseline's, and
    still able to prove a fixed leak against a baseline of leaking runs that scattered. RSS
    depends on the machine: its peak uses the larger of the two spreads; its growth pools
    like the heap's, never below the current runs' own spread.
    A single run that scatters far more within itself than the baseline's runs did is not a
    pass on its own (``findings.unvouched``).
    """
    a = policy.alpha
    heap_b = [r.peak_heap_bytes for r in baseline]
    heap_c = [r.peak_heap_bytes for r in current]
    rss_b = [r.peak_rss_bytes for r in baseline]
    rss_c = [r.peak_rss_bytes for r in current]
    res = policy.peak_resolution
    heap_peak = compare_levels(heap_b, heap_c, resolution=res, spread=POOLED)
    rss_peak = compare_levels(rss_b, rss_c, resolution=res, spread=LARGER)
    heap_growth = compare_rates(
        [r.heap_growth for r in baseline],
        [r.heap_growth_se for r in baseline],
        [r.heap_growth for r in current],
        [r.heap_growth_se for r in current],
        resolution=policy.growth_resolution,
        spread=CURRENT,
    )
    rss_growth = compare_rates(
        [r.rss_growth for r in baseline],
        [r.rss_growth_se for r in baseline],
        [r.rss_growth for r in current],
        [r.rss_growth_se for r in current],
        resolution=policy.rss_growth_resolution,
        spread=CURRENT,
    )
    relative = policy.growth_relative
    heap_noise = noise_ratio(
        [r.heap_growth_se for r in current], [r.heap_growth_se for r in baseline], policy.growth_resolution
    )
    rss_noise = noise_ratio(
        [r.rss_growth_se for r in current], [r.rss_growth_se for r in baseline], RSS_NOISE_FLOOR
    )
    heap_unseen = unseen_level(heap_b, heap_c, resolution=res, spread=POOLED)
    rss_unseen = unseen_level(rss_b, rss_c, resolution=res, spread=LARGER)
    return [
        _judge_level(
            Metric.HEAP_PEAK,
            heap_peak,
            policy.peak_tolerance,
            policy.peak_min_bytes,
            policy,
            heap_unseen,
            POOLED,
            heap_noise,
        ),
        _judge_rate(
            Metric.HEAP_GROWTH, heap_growth, policy.growth_tolerance, relative, a, CURRENT, heap_noise
        ),
        _judge_level(
            Metric.RSS_PEAK,
            rss_peak,
            policy.rss_peak_tolerance,
            policy.rss_peak_min_bytes,
            policy,
            rss_unseen,
            LARGER,
            rss_noise,
        ),
        _judge_rate(
            Metric.RSS_GROWTH, rss_growth, policy.rss_growth_tolerance, relative, a, CURRENT, rss_noise
        ),
    ]


def noise_ratio(current_se: Sequence[float], baseline_se: Sequence[float], resolution: float) -> float:
    """How much more the current runs' floors scatter within a run than the baseline's: the
    median current slope error over the largest baseline one, each at least ``resolution``.

    A slope's error comes from the scatter of its run's 50-odd floor readings, so one run
    shows how noisy its machine is, which its single peak cannot. The largest of the
    baseline's errors keeps an unchanged scenario's ordinary scatter from tripping it."""
    if not current_se or not baseline_se:
        return 0.0
    return max(statistics.median(current_se), resolution) / max(max(baseline_se), resolution)


def decide(
    current: Sequence[RunSummary],
    baseline: Sequence[RunSummary] | None,
    spec: ScenarioSpec,
    policy: Policy,
    *,
    trend_p: float = 1.0,
    final: bool = True,
) -> Verdict:
    """Verdict for one scenario; ``final=False`` lets ambiguity ask for more runs.

    ``policy`` is the session's; the scenario's own (``Policy.for_scenario``) counts its
    budget tests in the family. ``trend_p`` (the floors' Mann-Kendall evidence) is no
    longer used: a growth budget rests on the runs' slopes (``slopes.rate_above_p``)."""
    policy = policy.for_scenario(spec)
    findings = _budgets(spec, current, baseline, policy)
    if baseline:
        findings += compare_runs(current, baseline, policy)
    futility = 0 < policy.futility_runs <= len(current)
    return verdict_of(findings, compared=bool(baseline), final=final, futility=futility)


def verdict_of(
    findings: Sequence[Finding], *, compared: bool, final: bool = True, futility: bool = False
) -> Verdict:
    """The outcome that a set of findings amounts to: a regression beats everything, then
    an unclear case (more runs, or inconclusive at the end: a growth budget past its limit
    without proof, too, with no baseline), then an improvement.

    ``futility``: open findings that are all ``futile`` end the runs here, as the last
    look would end them (a pass, or an improvement)."""
    found = tuple(findings)
    regressed = [f for f in found if f.regressed]
    if regressed:
        return Verdict(Outcome.REGRESSION, tuple(dict.fromkeys(f.reason for f in regressed)), found)
    ambiguous = [f for f in found if f.ambiguous]
    if not compared and not ambiguous:
        return Verdict(Outcome.NEW, (), found)
    if ambiguous and not final and not (futility and all(f.futile for f in ambiguous)):
        return Verdict(Outcome.INCONCLUSIVE, (), found, needs_more_runs=True)
    if any(f.suspected for f in ambiguous):
        return Verdict(Outcome.INCONCLUSIVE, (), found)
    if not compared:
        return Verdict(Outcome.NEW, (), found)
    if any(f.improved for f in found):
        return Verdict(Outcome.IMPROVED, (), found)
    return Verdict(Outcome.PASS, (), found)


def error_verdict(status: str, error: str, run_number: int) -> Verdict:
    """A run that did not finish: the scenario is an error, whatever the other runs said."""
    return Verdict(Outcome.ERROR, (Reason(status),), (), error=error, error_run=run_number)


def with_findings(verdict: Verdict, extra: Sequence[Finding]) -> Verdict:
    """A verdict with more findings (a family's scaling): a regression among them fails it."""
    if verdict.outcome is Outcome.ERROR:
        return verdict
    findings = verdict.findings + tuple(extra)
    regressed = [f for f in extra if f.regressed]
    if not regressed:
        return replace(verdict, findings=findings)
    reasons = tuple(dict.fromkeys((*verdict.reasons, *(f.reason for f in regressed))))
    return Verdict(Outcome.REGRESSION, reasons, findings)


def consistent_shape(shape: ShapeReport, growth_per_call: float, policy: Policy) -> ShapeReport:
    """A floor that rises by less than the growth tolerance is called flat: a +28 B/call
    pass labelled "sawtooth with a rising floor" contradicts its own verdict."""
    if shape.shape in (Shape.GROWING, Shape.SAWTOOTH) and growth_per_call < policy.growth_tolerance:
        return replace(shape, shape=Shape.FLAT)
    return shape
