"""Verdicts on simulated runs with a known truth: false alarms, power, budgets, edge cases.

The gate's promise is two-sided: with nothing changed it must almost never fail a build
(at most ``alpha`` of the time), and a real regression of a practical size must almost
always be caught. Both are measured here by simulation, with the noise seen in practice,
through the same ``decide`` the plugin calls; the adaptive scheme (looks after 1, 2, 4 and 8
runs, a regression confirmed by 2) runs through the session's own ``run_until_settled``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import partial

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.stats import binom as sps_binom

from pytest_memgate.backends import BackendChoice
from pytest_memgate.config import GateConfig
from pytest_memgate.findings import BudgetCheck, Comparison, Finding, RateTest, unvouched
from pytest_memgate.marker import ScenarioSpec
from pytest_memgate.metrics import analyse_growth, settled_floor, summarize_run
from pytest_memgate.model import RunRecord, RunStatus, RunSummary
from pytest_memgate.reports.looks import screen_text
from pytest_memgate.reports.words import finding_text, verdict_message
from pytest_memgate.results import Doubt, Metric, Outcome, Reason, ScreenDoubt, Verdict
from pytest_memgate.schedule import CONFIRM_BEYOND, look_schedule, run_until_settled
from pytest_memgate.screening import screen_doubt
from pytest_memgate.session import GateSession
from pytest_memgate.stats import LARGER, bonferroni, combine_pvalues, level_p
from pytest_memgate.verdict import COMPARISONS, Policy, compare_runs, decide

KiB = 1024
MiB = 1024**2
ALPHA = 0.01
POLICY = Policy(alpha=ALPHA)
SPEC = ScenarioSpec()
# The gate's defaults: looks after 1, 2, 4 and 8 runs, a regression needs 2; one
# scenario's level is the session's alpha shared over its four metrics and every look.
CONFIRM = 2
LOOKS = look_schedule(CONFIRM, 8, first=1)
BASELINE_RUNS = 6
GATE_POLICY = Policy(
    alpha=bonferroni(ALPHA, COMPARISONS * len(LOOKS)), looks=len(LOOKS), futility_runs=CONFIRM
)
CALLS = 50
INDEX = np.arange(CALLS + 1)

Make = Callable[[np.random.Generator], RunSummary]
NDArrayF = NDArray[np.float64]

PROPERTY = settings(
    max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def summary(
    peak_heap: float,
    peak_rss: float = 200 * MiB,
    heap_growth: float = 0.0,
    heap_se: float = 0.0,
    rss_growth: float = 0.0,
    rss_se: float = 0.0,
) -> RunSummary:
    return RunSummary(int(peak_heap), int(peak_rss), heap_growth, heap_se, rss_growth, rss_se)


# --- noise models ---------------------------------------------------------------------


def deterministic_heap(rng: np.random.Generator) -> RunSummary:
    """(a) memray on a deterministic scenario: the same heap peak every run, give or take a
    few bytes now and then; the floor never moves (slope 0, se 0)."""
    jitter = int(rng.integers(-8, 9)) if rng.random() < 0.2 else 0
    return summary(
        50 * MiB + jitter,
        peak_rss=120 * MiB * math.exp(rng.normal(0, 0.01)),
        rss_growth=float(rng.normal(0, 50)),
        rss_se=40.0,
    )


def noisy_rss(sd: float) -> Make:
    """(b) RSS peaks with a few percent lognormal noise, RSS slopes off by a few hundred
    B/call from run to run; the heap peak wobbles by 0.2%."""

    def make(rng: np.random.Generator) -> RunSummary:
        return summary(
            50 * MiB * math.exp(rng.normal(0, 0.002)),
            peak_rss=200 * MiB * math.exp(rng.normal(0, sd)),
            heap_growth=float(rng.normal(0, 2)),
            heap_se=2.0,
            rss_growth=float(rng.normal(0, 300)),
            rss_se=abs(float(rng.normal(300, 50))),
        )

    return make


def occasional_outlier(rng: np.random.Generator) -> RunSummary:
    """(c) One run in ten peaks 8% higher (a dict resize, a GC pass at the wrong moment)."""
    odd = 1.08 if rng.random() < 0.1 else 1.0
    return summary(
        50 * MiB * odd * math.exp(rng.normal(0, 0.002)),
        peak_rss=150 * MiB * odd * math.exp(rng.normal(0, 0.03)),
        heap_growth=float(rng.normal(0, 2)),
        heap_se=2.0,
        rss_growth=float(rng.normal(0, 300)),
        rss_se=300.0,
    )


def payload_record(
    rng: np.random.Generator, *, leak: float = 0.0, retained: float = 64 * KiB, sd: float = 0.03
) -> RunRecord:
    """(d) A scenario whose payload varies by a few percent per call.

    Each call builds ``retained`` bytes of result (kept alive until the next call replaces
    it, so the floor sees it) and about 24 MiB of temporaries (only the peak sees them),
    both with lognormal size noise ``sd``; pymalloc moves the floor by +-100 B; RSS moves in
    4 KiB pages with +-16 KiB of arena hysteresis. ``leak`` bytes per call are retained for good.
    """
    n = CALLS + 1
    result = retained * np.exp(rng.normal(0, sd, n))
    temporaries = 24 * MiB * np.exp(rng.normal(0, sd, n))
    base = 8 * MiB
    heap_floor = base + result + leak * INDEX + rng.integers(-100, 101, n)
    peak_heap = base + np.max(result[:-1] + temporaries[1:] + result[1:] + leak * INDEX[1:])
    rss_extra = heap_floor - base + rng.normal(0, 16 * KiB, n)
    rss_floor = 40 * MiB + np.floor(rss_extra / 4096) * 4096
    peak_rss = 40 * MiB + peak_heap * 1.05 * math.exp(rng.normal(0, 0.02))
    return RunRecord(
        status=RunStatus.OK,
        backend="memray",
        warmup=10,
        iterations=CALLS,
        peak_heap_bytes=int(peak_heap),
        peak_rss_bytes=int(peak_rss),
        heap_floor_bytes=tuple(int(v) for v in heap_floor),
        rss_floor_bytes=tuple(int(v) for v in rss_floor),
    )


def payload_run(rng: np.random.Generator, leak: float = 0.0) -> RunSummary:
    return summarize_run(payload_record(rng, leak=leak))


@functools.cache
def payload_pool(size: int = 400, seed: int = 40) -> tuple[RunSummary, ...]:
    """Independently simulated no-leak runs, each through ``summarize_run`` (Theil-Sen on
    51-point floors, split in halves). Fitting is the slow part, so comparisons draw
    their runs from this pool instead of fitting six new runs each time."""
    rng = np.random.default_rng(seed)
    return tuple(payload_run(rng) for _ in range(size))


# --- the gate's procedure ---------------------------------------------------------------


def adaptive(
    rng: np.random.Generator,
    baseline: Sequence[RunSummary],
    make: Make,
    spec: ScenarioSpec = SPEC,
    policy: Policy = GATE_POLICY,
) -> tuple[Verdict, int]:
    """The session's loop (``run_until_settled``) on simulated runs."""
    current, verdict = run_until_settled(
        lambda: make(rng),
        LOOKS,
        lambda runs, final: decide(runs, baseline, spec, policy, final=final),
        confirm=CONFIRM,
    )
    return verdict, len(current)


def fixed_rate(make: Make, comparisons: int, seed: int, nb: int = 3, nc: int = 3) -> dict[Outcome, float]:
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(Outcome, 0)
    for _ in range(comparisons):
        baseline = [make(rng) for _ in range(nb)]
        current = [make(rng) for _ in range(nc)]
        counts[decide(current, baseline, SPEC, POLICY, final=True).outcome] += 1
    return {k: v / comparisons for k, v in counts.items()}


def adaptive_rate(
    make_baseline: Make, make_current: Make, trials: int, seed: int, baseline_runs: Sequence[int]
) -> tuple[dict[Outcome, float], dict[int, float]]:
    """Outcome rates over ``trials``, baseline size cycling through ``baseline_runs``; also
    the regression rate per baseline size."""
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(Outcome, 0)
    by_size: dict[int, list[bool]] = {nb: [] for nb in baseline_runs}
    for trial in range(trials):
        nb = baseline_runs[trial % len(baseline_runs)]
        baseline = [make_baseline(rng) for _ in range(nb)]
        verdict, _ = adaptive(rng, baseline, make_current)
        counts[verdict.outcome] += 1
        by_size[nb].append(verdict.outcome is Outcome.REGRESSION)
    return {k: v / trials for k, v in counts.items()}, {nb: float(np.mean(v)) for nb, v in by_size.items()}


# --- calibration: no change, no failure -------------------------------------------------


@pytest.mark.calibration
def test_false_alarms_deterministic_heap():
    rates = fixed_rate(deterministic_heap, 1000, seed=1)
    assert rates[Outcome.REGRESSION] <= ALPHA
    assert rates[Outcome.IMPROVED] <= ALPHA
    assert rates[Outcome.PASS] >= 0.99


@pytest.mark.calibration
@pytest.mark.parametrize("sd", [0.03, 0.05])
def test_false_alarms_noisy_rss(sd):
    rates = fixed_rate(noisy_rss(sd), 1000, seed=int(sd * 1000))
    assert rates[Outcome.REGRESSION] <= ALPHA
    assert rates[Outcome.IMPROVED] <= ALPHA


@pytest.mark.calibration
def test_false_alarms_occasional_outlier_run():
    rates = fixed_rate(occasional_outlier, 1000, seed=3)
    assert rates[Outcome.REGRESSION] <= ALPHA


@pytest.mark.calibration
def test_false_alarms_varying_payload_through_the_real_estimator():
    pool = payload_pool()
    rng = np.random.default_rng(4)
    comparisons, regressions, improved = 1200, 0, 0
    for _ in range(comparisons):
        picked = rng.choice(len(pool), 6, replace=False)
        runs = [pool[i] for i in picked]
        outcome = decide(runs[3:], runs[:3], SPEC, POLICY, final=True).outcome
        regressions += outcome is Outcome.REGRESSION
        improved += outcome is Outcome.IMPROVED
    assert regressions / comparisons <= ALPHA
    assert improved / comparisons <= ALPHA
    # The pool is realistic: slopes near zero with an honest, non-zero error.
    growth = np.array([r.heap_growth for r in pool])
    errors = np.array([r.heap_growth_se for r in pool])
    assert abs(np.median(growth)) < 8
    assert 5 < np.median(errors) < 100


def _heap_noise(rng: np.random.Generator) -> RunSummary:
    """Heap peaks 1.5% apart from run to run, on top of the noisy-RSS model."""
    s = noisy_rss(0.04)(rng)
    return summary(
        50 * MiB * math.exp(rng.normal(0, 0.015)),
        s.peak_rss_bytes,
        s.heap_growth,
        s.heap_growth_se,
        s.rss_growth,
        s.rss_growth_se,
    )


@pytest.mark.calibration
def test_false_alarms_of_the_adaptive_procedure():
    """Every look (1, 2, 4, 8 runs) can fail the build, so the whole procedure is checked too."""
    rates, _ = adaptive_rate(_heap_noise, _heap_noise, 800, seed=5, baseline_runs=range(3, 9))
    assert rates[Outcome.REGRESSION] <= ALPHA


def toggle_record(rng: np.random.Generator, block: int, flip: float) -> RunRecord:
    """(f) An RSS floor toggling by an allocator block: it sits on one of two levels ``block``
    apart (a 1 MiB arena kept or returned, a trimmed heap top) and switches with probability
    ``flip`` after each call; the RSS peak carries the block when the run saw the upper level.
    The heap is deterministic, as memray sees it."""
    n = CALLS + 1
    state, level = np.empty(n), rng.integers(0, 2)
    for i in range(n):
        if rng.random() < flip:
            level = 1 - level
        state[i] = level
    rss_floor = 40 * MiB + block * state + np.floor(rng.normal(0, 8 * KiB, n) / 4096) * 4096
    return RunRecord(
        status=RunStatus.OK,
        backend="memray",
        warmup=10,
        iterations=CALLS,
        peak_heap_bytes=32 * MiB,
        peak_rss_bytes=int((64 * MiB + block * state.max()) * math.exp(rng.normal(0, 0.01))),
        heap_floor_bytes=tuple(int(8 * MiB + v) for v in rng.integers(-100, 101, n)),
        rss_floor_bytes=tuple(int(v) for v in rss_floor),
    )


@functools.cache
def toggle_pool(block: int, flip: float, size: int = 200) -> tuple[RunSummary, ...]:
    rng = np.random.default_rng(block // KiB + int(flip * 100))
    return tuple(summarize_run(toggle_record(rng, block, flip)) for _ in range(size))


@pytest.mark.calibration
@pytest.mark.parametrize(
    ("block", "flip", "within_two"),
    [(MiB, 0.1, 0.6), (MiB, 0.03, 0.3), (256 * KiB, 0.3, 0.97), (132 * KiB, 0.1, 0.97)],
)
def test_rss_toggling_by_an_allocator_block_raises_no_false_alarm(
    block: int, flip: float, within_two: float
) -> None:
    """The whole procedure on unchanged scenarios whose RSS floor toggles by a block, runs
    drawn from a pool fitted by ``summarize_run``: no false regression in 300 trials (the
    limit is alpha), and the share decided within two runs. Measured (1,000 trials of this
    test): 1 MiB toggles flipping every 10 calls 71% (about 38% with Welch's test and the
    widened Theil-Sen error used before), every 33 calls 34% (about 31%), 256 and 132 KiB
    blocks 100% (99% and 96%); no false regression before or now.
    A single toggle in the middle of a 50-call run reads as a slope of about 20 KiB/call
    (past the 16 KiB tolerance), which one or two runs cannot tell from growth: those
    scenarios still take four to eight runs (docs/concepts.md, Limits)."""
    pool = toggle_pool(block, flip)
    rng = np.random.default_rng(block + int(flip * 1000))
    trials, regressions, fast = 300, 0, 0
    for _ in range(trials):
        baseline = [pool[i] for i in rng.choice(len(pool), BASELINE_RUNS, replace=False)]
        verdict, taken = adaptive(rng, baseline, lambda rng: pool[int(rng.integers(len(pool)))])
        regressions += verdict.outcome is Outcome.REGRESSION
        fast += taken <= 2
    assert regressions / trials <= ALPHA
    assert fast / trials >= within_two


@pytest.mark.calibration
def test_false_alarms_with_a_single_baseline_run():
    """A baseline recorded with --memgate-runs 1: its one run says nothing of the spread.

    Treating that run as exact (no spread beyond the 0.1% floor) used to fail 1.5% of
    unchanged scenarios here, and 8% with 8 current runs and 2% heap noise."""

    def make(rng: np.random.Generator) -> RunSummary:
        return summary(50 * MiB * math.exp(rng.normal(0, 0.012)), 200 * MiB * math.exp(rng.normal(0, 0.04)))

    rates = fixed_rate(make, 1000, seed=6, nb=1, nc=3)
    assert rates[Outcome.REGRESSION] <= ALPHA


# --- calibration with the practical sizes off --------------------------------------------
#
# The practical sizes hide the p-values: with them on, a broken test (a p-value of 0, a
# halved error, a doubled rate) still passes most of the checks above. With them off, each
# metric's own false-alarm rate is its test's, and must stay within the level in each tail
# (``benchmarks/mutation.py`` checks that these checks fail for each of those breakages).

SIZES_OFF = Policy(
    alpha=ALPHA,
    peak_tolerance=0.0,
    peak_min_bytes=0,
    growth_tolerance=0.0,
    rss_peak_tolerance=0.0,
    rss_peak_min_bytes=0,
    rss_growth_tolerance=0.0,
    growth_relative=0.0,
)
METRIC_TRIALS = 4000
# 0.999 quantile of the hits of a calibrated test at ALPHA: 61 of 4000, a rate of 0.0153.
METRIC_LIMIT = 61
# After half the trials, at most 22 hits in every metric and tail pass (as in test_stats:
# the same power against a doubled rate, 1.6% passing instead of 1.5%).
METRIC_EARLY_PASS = 22


def _heap_spread(rng: np.random.Generator) -> RunSummary:
    """The noisy-RSS model with heap peaks 1.5% apart and heap slopes spread 60 B/call from
    run to run against a within-run error of 20 B/call, so that every metric's test, not
    only its floor, decides."""
    s = noisy_rss(0.03)(rng)
    return summary(
        50 * MiB * math.exp(rng.normal(0, 0.015)),
        s.peak_rss_bytes,
        float(rng.normal(0, 60)),
        20.0,
        s.rss_growth,
        s.rss_growth_se,
    )


def metric_rates(make: Make, seed: int, nb: int, nc: int) -> tuple[dict[tuple[Metric, str], int], int]:
    """Hits per (metric, tail) under no change with the practical sizes off, and the trials
    they came from (half of ``METRIC_TRIALS`` when every count passed early)."""
    rng = np.random.default_rng(seed)
    hits: dict[tuple[Metric, str], int] = {}
    for trial in range(1, METRIC_TRIALS + 1):
        baseline = [make(rng) for _ in range(nb)]
        current = [make(rng) for _ in range(nc)]
        for f in decide(current, baseline, SPEC, SIZES_OFF, final=True).findings:
            for tail, hit in (("up", f.regressed), ("down", f.improved)):
                hits[f.metric, tail] = hits.get((f.metric, tail), 0) + hit
        if trial == METRIC_TRIALS // 2 and max(hits.values()) <= METRIC_EARLY_PASS:
            return hits, trial
    return hits, METRIC_TRIALS


@pytest.mark.calibration
@pytest.mark.parametrize(("nb", "nc"), [(3, 3), (6, 2), (6, 4)])
def test_each_metric_keeps_its_level_with_the_practical_sizes_off(nb: int, nc: int) -> None:
    """Measured (seed 70+): every metric and tail at most 0.0118 (pooled heap peak, exact),
    RSS figures 0.000-0.006 (the larger spread and Welch's test are conservative here)."""
    hits, trials = metric_rates(_heap_spread, seed=70 + nb + nc, nb=nb, nc=nc)
    assert len(hits) == 2 * COMPARISONS
    over = {f"{m.value} {tail}": n / trials for (m, tail), n in hits.items() if n > METRIC_LIMIT}
    assert not over, f"false-alarm rates over {METRIC_LIMIT / METRIC_TRIALS:.4f}: {over}"
    # The check can see a liberal test: the exact one (heap peak) is near its level.
    assert hits[Metric.HEAP_PEAK, "up"] >= trials * ALPHA * 0.4


@pytest.mark.calibration
def test_the_deterministic_heap_keeps_its_level_with_the_practical_sizes_off() -> None:
    hits, _ = metric_rates(deterministic_heap, seed=77, nb=6, nc=2)
    assert max(hits.values()) <= METRIC_LIMIT, hits


# --- unequal noise: the current machine noisier than the baseline's --------------------


def noisier(factor: float, rss_shift: float = 0.0) -> Make:
    """RSS figures ``factor`` times as noisy as in ``noisy_rss(0.02)``, from run to run and
    within each run (its floor, hence its slope's error), on a busier machine; the RSS peak
    moved by ``rss_shift``."""

    def make(rng: np.random.Generator) -> RunSummary:
        return summary(
            50 * MiB * math.exp(rng.normal(0, 0.002)),
            peak_rss=200 * MiB * (1 + rss_shift) * math.exp(rng.normal(0, 0.02 * factor)),
            heap_growth=float(rng.normal(0, 2)),
            heap_se=2.0,
            rss_growth=float(rng.normal(0, 300 * factor)),
            rss_se=abs(float(rng.normal(300, 50))) * factor,
        )

    return make


@pytest.mark.calibration
def test_a_noisier_single_run_cannot_pass_a_grown_rss_peak_alone() -> None:
    """A real +20% RSS peak, baseline with 2% noise, current machine with 8%. A one-run
    look lends the run the baseline's spread; before the guard 4.4% of trials stopped there
    as a pass (131 of 3,000). The run's own floor scatters 4x as much as the baseline's,
    so it cannot vouch for a pass and a second run lets its spread count."""
    rng = np.random.default_rng(80)
    early_passes = passes = caught = 0
    trials = 1500
    for _ in range(trials):
        baseline = [noisier(1.0)(rng) for _ in range(BASELINE_RUNS)]
        verdict, runs = adaptive(rng, baseline, noisier(4.0, rss_shift=0.2))
        early_passes += runs == 1 and verdict.outcome is Outcome.PASS
        passes += verdict.outcome is Outcome.PASS
        caught += verdict.outcome is Outcome.REGRESSION
    # Measured (seed 80): no early pass and 0.8% passes in all (4.4% and 4.9% without the
    # guard; 0.6% without futility stops, 1.7% with stops at half the tolerance instead of a
    # quarter); 56% caught (600 trials), the rest inconclusive after 8 runs of 8% noise. A
    # test that let two runs' spread borrow the baseline's degrees of freedom caught 65%, at
    # 141x its level on such a machine (``stats.level_p``).
    assert early_passes == 0
    assert passes / trials <= 0.015
    assert caught / trials >= 0.5


def test_a_noisier_single_run_asks_for_one_more_and_says_why() -> None:
    rng = np.random.default_rng(81)
    baseline = [noisier(1.0)(rng) for _ in range(BASELINE_RUNS)]
    run = replace(noisier(1.0)(rng), rss_growth_se=1500.0)
    verdict = decide([run], baseline, SPEC, GATE_POLICY, final=False)
    assert verdict.needs_more_runs
    assert "cannot vouch for it" in verdict_message(verdict)
    calm = decide([noisier(1.0)(rng)], baseline, SPEC, GATE_POLICY, final=False)
    assert calm.outcome is Outcome.PASS and not calm.needs_more_runs


@pytest.mark.calibration
def test_heap_growth_keeps_its_level_when_current_slopes_spread_more() -> None:
    """Heap slopes spread 3x as much from run to run as the baseline's (within-run error 3x
    too), sizes off, at one scenario's per-test level (6.25e-4), 6 vs 2. The pooled test let
    the two noisy runs borrow the baseline's small spread: 1.3% false regressions (21x).
    Never below the current runs' own spread: about 0.3% (5x), measured. Still above the level, and about 1.0%
    when only the run-to-run spread grows and the within-run error does not: two runs
    cannot show their own spread (docs/concepts.md, Limits); the practical size is the guard there."""
    rng = np.random.default_rng(82)
    policy = replace(SIZES_OFF, alpha=GATE_POLICY.alpha)
    trials, hits = 8000, 0
    for _ in range(trials):
        baseline = [summary(50 * MiB, heap_growth=float(rng.normal(0, 100)), heap_se=33.0) for _ in range(6)]
        current = [summary(50 * MiB, heap_growth=float(rng.normal(0, 300)), heap_se=100.0) for _ in range(2)]
        findings = compare_runs(current, baseline, policy)
        hits += any(f.regressed for f in findings if f.metric is Metric.HEAP_GROWTH)
    assert hits / trials <= 0.006, f"{hits / trials:.4f}"


def odd_levels(rng: np.random.Generator) -> RunSummary:
    """(e) The issue's model: a deterministic 20 MiB heap peak, one run in ten 8% higher
    (heap and RSS alike), RSS with 3% noise."""
    odd = 1.08 if rng.random() < 0.1 else 1.0
    return summary(
        20 * MiB * odd,
        peak_rss=150 * MiB * odd * math.exp(rng.normal(0, 0.03)),
        rss_growth=float(rng.normal(0, 300)),
        rss_se=300.0,
    )


def session_policy(scenarios: int) -> Policy:
    """The policy a session of ``scenarios`` scenarios really uses, from the session itself."""
    session = GateSession(GateConfig(), BackendChoice("memray", "simulated"), scenario_count=scenarios)
    return session.policy


def test_the_sessions_policy_is_the_one_simulated() -> None:
    assert session_policy(1) == GATE_POLICY
    assert session_policy(200).alpha == pytest.approx(ALPHA / (200 * COMPARISONS * len(LOOKS)))
    assert session_policy(200).metric_alpha == pytest.approx(ALPHA / (200 * COMPARISONS))


@pytest.mark.calibration
def test_a_suite_of_200_scenarios_keeps_the_session_rate() -> None:
    """The session's alpha is shared over scenarios: 200 unchanged scenarios fail a build
    no more often than one. 2,000 scenarios (10 sessions) over five noise models, odd levels
    included, at the level the session computes for 200: none may fail (a procedure at its
    bound, 5e-5 per scenario, would fail one in ten such tests; measured: 0).

    This alone has little power against a per-scenario rate of 7e-4 (the issue's odd-level
    rate before confirming runs: 1.4 expected hits); the odd-level route is checked where it
    happens in ``test_odd_levels_need_confirming_runs_at_suite_scale``."""
    models = (deterministic_heap, noisy_rss(0.03), noisy_rss(0.05), _heap_noise, odd_levels)
    policy = session_policy(200)
    rng = np.random.default_rng(2)
    false = 0
    for i in range(2000):
        make = models[i % len(models)]
        verdict, _ = adaptive(rng, [make(rng) for _ in range(BASELINE_RUNS)], make, policy=policy)
        false += verdict.outcome is Outcome.REGRESSION
    assert false == 0


def _forced_odd(policy: Policy, trials: int, seed: int) -> int:
    """Regressions when the baseline's 6 runs show no odd level (probability 0.9**6 = 53%)
    and the first two current runs both land on it (1%): the only way the odd-level model
    raised false alarms (every one of them, in the issue's 20,000 trials)."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(trials):
        baseline = [
            summary(20 * MiB, 150 * MiB * math.exp(rng.normal(0, 0.03))) for _ in range(BASELINE_RUNS)
        ]
        forced = iter([1.08, 1.08])

        def make(rng: np.random.Generator, forced: Iterator[float] = forced) -> RunSummary:
            odd = next(forced, 1.08 if rng.random() < 0.1 else 1.0)
            return summary(20 * MiB * odd, 150 * MiB * odd * math.exp(rng.normal(0, 0.03)))

        verdict, _ = adaptive(rng, baseline, make, policy=policy)
        hits += verdict.outcome is Outcome.REGRESSION
    return hits


@pytest.mark.calibration
def test_odd_levels_need_confirming_runs_at_suite_scale() -> None:
    """The false-alarm rate of odd levels is P(baseline without them) x P(first runs on them)
    x P(regression | that): 0.0053 x hits/trials. Before confirming runs every forced trial
    failed (0.53% per scenario: 13% of 200-scenario sessions). Now a jump to an unseen level
    must survive runs until (1/8)**k is within one metric's budget: 3 runs for one scenario
    (P = 0.1 that the third is odd too: measured 12 of 100, a rate of 6e-4 per scenario, within
    0.01), 6 for 200 scenarios (P = 1e-4: none of 100; the rate is then 5e-7 per scenario,
    1e-4 per session). Bounds: at most 20 of 100 for one scenario (Binomial(100, 0.1)
    exceeds it with probability 0.2%), none of 100 for 200."""
    assert _forced_odd(GATE_POLICY, 100, seed=20) <= 20
    assert _forced_odd(session_policy(200), 100, seed=21) == 0


@pytest.mark.parametrize(("scenarios", "runs"), [(1, 4), (3, 5), (10, 6), (200, 12)])
def test_a_jump_to_an_unseen_level_is_confirmed_by_more_runs(scenarios: int, runs: int) -> None:
    """A deterministic +30% peak against 6 identical baseline runs: proven by the t-test at
    two runs, failed only once odd runs can no longer explain it, whatever share of runs a
    second level might take (``stats.odd_share_p``); for 200 scenarios past the last look."""
    policy = session_policy(scenarios)
    baseline = [summary(20 * MiB)] * BASELINE_RUNS
    verdict, taken = adaptive(
        np.random.default_rng(0), baseline, lambda rng: summary(26 * MiB), policy=policy
    )
    assert verdict.outcome is Outcome.REGRESSION
    assert taken == runs


def _two_level_false_alarms(share: float, policy: Policy, trials: int, seed: int) -> int:
    """Regressions of an unchanged scenario whose peak is +8% in ``share`` of its runs,
    when its 6 baseline runs all landed on the low level (probability ``(1 - share)**6``)."""
    rng = np.random.default_rng(seed)

    def make(rng: np.random.Generator) -> RunSummary:
        odd = 1.08 if rng.random() < share else 1.0
        return summary(20 * MiB * odd, 150 * MiB * odd * math.exp(rng.normal(0, 0.03)))

    hits = 0
    for _ in range(trials):
        baseline = [summary(20 * MiB, 150 * MiB * math.exp(rng.normal(0, 0.03))) for _ in range(6)]
        verdict, _ = adaptive(rng, baseline, make, policy=policy)
        hits += verdict.outcome is Outcome.REGRESSION
    return hits


@pytest.mark.calibration
@pytest.mark.parametrize(("scenarios", "runs"), [(1, 4), (10, 6), (200, 12)])
def test_two_level_peaks_whose_baseline_missed_the_level(scenarios: int, runs: int) -> None:
    """A scenario whose peak sits on a second level in half its runs, and a baseline that
    missed it (probability 1/64). Odd levels were taken to occur in at most 1 of n + 2
    runs, which fails such a scenario when its first 3 current runs (6 for 200 scenarios)
    land up there: 2.4e-4 per scenario at 200, 4.9x that suite's budget. The bound over
    every share (``stats.odd_share_p``) waits for ``runs`` of them: the regressions come at
    least at ``0.5**runs`` (Binomial 99.9% bound: the rule is met, not only avoided) and,
    weighted by 1/64, stay within one scenario's budget (alpha / S)."""
    trials, share = 400, 0.5
    hits = _two_level_false_alarms(share, session_policy(scenarios), trials, seed=95 + scenarios)
    assert hits >= sps_binom.ppf(0.0005, trials, share**runs), f"{hits} of {trials}"
    assert (1 - share) ** 6 * hits / trials <= ALPHA / scenarios, f"{hits} of {trials}"


# --- the same models with a real change: the calibration tests are not vacuous ---------


def test_deterministic_heap_regression_is_caught():
    def grown(rng):
        s = deterministic_heap(rng)
        return summary(s.peak_heap_bytes * 1.05, s.peak_rss_bytes, rss_growth=s.rss_growth, rss_se=40.0)

    rng = np.random.default_rng(7)
    for _ in range(100):
        baseline = [deterministic_heap(rng) for _ in range(3)]
        # four runs on a level 3 baseline runs never showed rule out a second level (0.0084)
        verdict = decide([grown(rng) for _ in range(4)], baseline, SPEC, POLICY, final=True)
        assert verdict.outcome is Outcome.REGRESSION
        assert verdict.reasons == ("peak",)


def test_noisy_rss_regression_is_caught():
    base = noisy_rss(0.03)

    def grown(rng):
        s = base(rng)
        return summary(
            s.peak_heap_bytes, s.peak_rss_bytes * 1.3, s.heap_growth, 2.0, s.rss_growth, s.rss_growth_se
        )

    rates, _ = adaptive_rate(base, grown, 300, seed=8, baseline_runs=range(3, 9))
    assert rates[Outcome.REGRESSION] >= 0.95


# --- power: real regressions are caught -------------------------------------------------


def _heap_peak(shift: float) -> Make:
    def make(rng: np.random.Generator) -> RunSummary:
        return summary(
            50 * MiB * math.exp(rng.normal(math.log1p(shift), 0.01)),
            peak_rss=200 * MiB * math.exp(rng.normal(0, 0.04)),
            rss_growth=float(rng.normal(0, 300)),
            rss_se=300.0,
        )

    return make


@pytest.mark.calibration
def test_power_five_percent_heap_peak_increase():
    """+5% heap peak, 1% run-to-run noise, a baseline of the default 6 runs, the gate's looks.

    Measured: about 99.6% caught (seed 9).
    """
    rates, _ = adaptive_rate(_heap_peak(0.0), _heap_peak(0.05), 1000, seed=9, baseline_runs=[BASELINE_RUNS])
    assert rates[Outcome.REGRESSION] >= 0.95
    assert rates[Outcome.PASS] <= 0.01


@pytest.mark.calibration
def test_power_depends_on_the_baseline_size():
    """The baseline's spread is estimated from its runs, so a small baseline is a weaker
    gate. With Student's pooled test on heap peaks, the current runs' spread counts too
    (6 vs 2 has 6 degrees of freedom, not Welch's 1.7). Measured (seed 9, 150 trials per
    size): 95.5% caught with 3 baseline runs, 99% with 4, 100% with 5 or more; Welch's test
    used to give 56%, 81% and 99.5%. The bounds sit 2.5-3 binomial sd under those rates."""
    _, by_size = adaptive_rate(_heap_peak(0.0), _heap_peak(0.05), 900, seed=9, baseline_runs=range(3, 9))
    assert all(by_size[nb] >= 0.97 for nb in range(5, 9))
    assert by_size[3] >= 0.9 and by_size[4] >= 0.95


@pytest.mark.calibration
def test_power_five_percent_peak_with_fixed_runs():
    rates = {}
    for nb, nc in ((3, 3), (8, 8)):
        rng = np.random.default_rng(10 + nb)
        before, after = _heap_peak(0.0), _heap_peak(0.05)
        hits = 0
        for _ in range(300):
            baseline = [before(rng) for _ in range(nb)]
            verdict = decide([after(rng) for _ in range(nc)], baseline, SPEC, POLICY, final=True)
            hits += verdict.outcome is Outcome.REGRESSION
        rates[nb] = hits / 300
    assert rates[8] >= 0.99
    assert rates[3] >= 0.6  # why more runs exist


def jitter_run(rng: np.random.Generator, leak: float = 0.0) -> RunSummary:
    """Floors with +-100 B pymalloc jitter; each call's 4 MiB of temporaries reach only the peak."""
    floor = 8 * MiB + leak * INDEX + rng.integers(-100, 101, CALLS + 1)
    peak = floor[-1] + 4 * MiB
    record = RunRecord(
        status=RunStatus.OK,
        backend="memray",
        iterations=CALLS,
        peak_heap_bytes=int(peak),
        peak_rss_bytes=int(peak + 30 * MiB),
        heap_floor_bytes=tuple(int(v) for v in floor),
        rss_floor_bytes=tuple(int(30 * MiB + 4096 * (v // 4096)) for v in floor - 8 * MiB),
    )
    return summarize_run(record)


@functools.cache
def jitter_pool(size: int = 120, seed: int = 41) -> tuple[RunSummary, ...]:
    rng = np.random.default_rng(seed)
    return tuple(jitter_run(rng) for _ in range(size))


def leak_power(pool: Sequence[RunSummary], make: Make, trials: int, seed: int) -> float:
    """Share of ``trials`` caught as growth regressions: 3..8 baseline runs drawn from
    ``pool`` (no leak), current runs simulated afresh by the adaptive procedure."""
    rng = np.random.default_rng(seed)
    caught = 0
    for trial in range(trials):
        baseline = [pool[i] for i in rng.choice(len(pool), 3 + trial % 6, replace=False)]
        verdict, _ = adaptive(rng, baseline, make)
        if verdict.outcome is Outcome.REGRESSION:
            caught += 1
            assert "growth" in verdict.reasons
    return caught / trials


@pytest.mark.calibration
def test_power_leak_of_512_bytes_per_call_in_pymalloc_jitter():
    assert leak_power(jitter_pool(), lambda r: jitter_run(r, leak=512.0), 200, seed=11) >= 0.95


@pytest.mark.calibration
def test_power_leak_of_512_bytes_per_call_in_varying_payloads():
    assert leak_power(payload_pool(), lambda r: payload_run(r, leak=512.0), 150, seed=12) >= 0.95


@pytest.mark.calibration
def test_leak_below_the_growth_tolerance_is_not_a_regression():
    pool = payload_pool()
    rng = np.random.default_rng(13)
    for trial in range(30):
        baseline = [pool[i] for i in rng.choice(len(pool), 3 + trial % 6, replace=False)]
        verdict, _ = adaptive(rng, baseline, lambda r: payload_run(r, leak=64.0))
        assert verdict.outcome is not Outcome.REGRESSION


# --- practical size and significance ----------------------------------------------------


def test_significant_but_small_increase_is_not_a_regression():
    # 1% is proven beyond doubt on deterministic peaks, but below the 3% tolerance.
    verdict = decide([summary(50.5 * MiB)] * 3, [summary(50 * MiB)] * 3, SPEC, POLICY)
    assert verdict.outcome is Outcome.PASS
    heap = verdict.findings[0]
    assert heap.comparison.p_increase < ALPHA / 10
    assert not heap.regressed


def test_large_relative_increase_of_a_tiny_peak_is_not_a_regression():
    # +50% of 256 KiB is 128 KiB: below the 256 KiB absolute minimum.
    verdict = decide([summary(384 * KiB)] * 3, [summary(256 * KiB)] * 3, SPEC, POLICY)
    assert verdict.outcome is Outcome.PASS
    verdict = decide([summary(768 * KiB)] * 4, [summary(256 * KiB)] * 3, SPEC, POLICY)
    assert verdict.outcome is Outcome.REGRESSION


def test_growth_must_clear_absolute_and_relative_tolerances():
    def runs(growth: float) -> list[RunSummary]:
        return [summary(50 * MiB, heap_growth=growth + d, heap_se=2.0) for d in (-1.0, 0.0, 1.0)]

    assert decide(runs(200), runs(0), SPEC, POLICY).outcome is Outcome.PASS
    assert decide(runs(300), runs(0), SPEC, POLICY).outcome is Outcome.REGRESSION
    # An accepted 2 KiB/call: +400 B/call is past 256 B but not 25% of the baseline.
    assert decide(runs(2400), runs(2000), SPEC, POLICY).outcome is Outcome.PASS
    assert decide(runs(2600), runs(2000), SPEC, POLICY).outcome is Outcome.REGRESSION


def test_regression_message_carries_the_evidence():
    verdict = decide([summary(60 * MiB)] * 4, [summary(50 * MiB)] * 3, SPEC, POLICY)
    assert verdict.outcome is Outcome.REGRESSION
    assert verdict.reasons == ("peak",)
    assert "heap peak grew" in verdict_message(verdict)
    assert "+20.0%" in verdict_message(verdict)
    assert not verdict.needs_more_runs


def test_noisy_inconclusive_increase_asks_for_more_runs_then_gives_up():
    baseline = [summary(50 * MiB * f) for f in (0.93, 1.0, 1.07)]
    current = [summary(54 * MiB * f) for f in (0.93, 1.0, 1.07)]
    early = decide(current, baseline, SPEC, POLICY, final=False)
    assert early.outcome is Outcome.INCONCLUSIVE
    assert early.needs_more_runs
    late = decide(current, baseline, SPEC, POLICY, final=True)
    assert late.outcome is Outcome.INCONCLUSIVE
    assert not late.needs_more_runs
    assert "not conclusive" in verdict_message(late)


# --- improvements -------------------------------------------------------------------------


def test_improved_heap_peak():
    rng = np.random.default_rng(14)
    before, after = _heap_peak(0.0), _heap_peak(-0.2)
    for _ in range(50):
        baseline = [before(rng) for _ in range(3)]
        verdict = decide([after(rng) for _ in range(3)], baseline, SPEC, POLICY)
        assert verdict.outcome is Outcome.IMPROVED
        assert "Refresh the baseline" in verdict_message(verdict)


def test_fixed_leak_is_an_improvement():
    def runs(growth: float) -> list[RunSummary]:
        return [summary(50 * MiB, heap_growth=growth + d, heap_se=3.0) for d in (-2.0, 0.0, 2.0)]

    assert decide(runs(0), runs(2048), SPEC, POLICY).outcome is Outcome.IMPROVED


def test_improvement_does_not_hide_a_regression():
    baseline = [summary(50 * MiB, heap_growth=0.0, heap_se=1.0)] * 3
    current = [summary(40 * MiB, heap_growth=1024.0, heap_se=1.0)] * 3
    verdict = decide(current, baseline, SPEC, POLICY)
    assert verdict.outcome is Outcome.REGRESSION
    assert verdict.reasons == ("growth",)


# --- edge cases -------------------------------------------------------------------------


def test_identical_runs_pass_without_nan():
    runs = [summary(50 * MiB)] * 3
    verdict = decide(runs, runs, SPEC, POLICY)
    assert verdict.outcome is Outcome.PASS
    for finding in verdict.findings:
        c = finding.comparison
        assert not math.isnan(c.p_increase) and not math.isnan(c.p_decrease)
        assert "nan" not in finding_text(finding)


def test_one_byte_difference_is_not_a_regression():
    verdict = decide([summary(50 * MiB + 1, 200 * MiB + 1)] * 3, [summary(50 * MiB)] * 3, SPEC, POLICY)
    assert verdict.outcome is Outcome.PASS


def test_zero_peaks_and_zero_growth():
    runs = [summary(0, 0)] * 3
    assert decide(runs, runs, SPEC, POLICY).outcome is Outcome.PASS
    grown = [summary(64 * MiB, 64 * MiB)] * 4
    assert decide(grown, runs, SPEC, POLICY).outcome is Outcome.REGRESSION
    assert decide(runs, grown, SPEC, POLICY).outcome is Outcome.IMPROVED


def test_single_run_each_side_asks_for_more_runs():
    """One run against one cannot be tested; a tenfold peak must not pass silently."""
    big, small = [summary(500 * MiB)], [summary(50 * MiB)]
    early = decide(big, small, SPEC, POLICY, final=False)
    assert early.outcome is Outcome.INCONCLUSIVE
    assert early.needs_more_runs
    late = decide(big, small, SPEC, POLICY, final=True)
    assert late.outcome is Outcome.INCONCLUSIVE
    same = decide(small, small, SPEC, POLICY, final=True)
    assert same.outcome is Outcome.PASS


@pytest.mark.parametrize(("baseline_runs", "outcome"), [(1, Outcome.INCONCLUSIVE), (3, Outcome.REGRESSION)])
def test_a_baseline_of_one_run_cannot_rule_out_a_second_level(baseline_runs: int, outcome: Outcome):
    """+20% with 1% noise, every current run far above the baseline's. One baseline run
    cannot tell a change from a level that one run in two reaches (the chance stays above
    1/(e k) for k runs): the verdict is unclear and says what would settle it, never a pass.
    Three baseline runs rule that out with four current runs."""
    rng = np.random.default_rng(15)
    baseline = [_heap_peak(0.0)(rng) for _ in range(baseline_runs)]
    current = [_heap_peak(0.2)(rng)]
    while True:  # as the session does with --memgate-baseline-runs 1
        verdict = decide(current, baseline, SPEC, POLICY, final=len(current) >= LOOKS[-1])
        if not verdict.needs_more_runs:
            break
        current.append(_heap_peak(0.2)(rng))
    assert verdict.outcome is outcome
    assert len(current) >= 2
    if outcome is Outcome.INCONCLUSIVE:
        assert "on a level the baseline never showed" in verdict_message(verdict)
        assert "(fewer against a baseline of more runs: baseline_runs)" in verdict_message(verdict)


# --- budgets ----------------------------------------------------------------------------


def test_peak_budget_without_baseline():
    spec = ScenarioSpec(max_peak=64 * MiB)
    over = decide([summary(70 * MiB)] * 3, None, spec, POLICY)
    assert over.outcome is Outcome.REGRESSION
    assert over.reasons == ("budget",)
    assert "exceeds the budget" in verdict_message(over)
    within = decide([summary(60 * MiB)] * 3, None, spec, POLICY)
    assert within.outcome is Outcome.NEW
    assert within.findings[0].reason == "budget"
    assert not within.findings[0].regressed


def test_peak_budget_uses_the_median_run():
    spec = ScenarioSpec(max_peak=64 * MiB)
    runs = [summary(60 * MiB), summary(61 * MiB), summary(90 * MiB)]
    assert decide(runs, None, spec, POLICY).outcome is Outcome.NEW


def test_growth_budget_needs_evidence():
    """Over the budget takes a median slope past it and proof from the runs' slopes: the
    same median with slopes scattered (or errors) as wide as the growth is not proof."""
    spec = ScenarioSpec(max_growth=1024)
    runs = [summary(50 * MiB, heap_growth=g, heap_se=10.0) for g in (2040.0, 2048.0, 2056.0)]
    over = decide(runs, None, spec, POLICY)
    assert over.outcome is Outcome.REGRESSION
    assert over.reasons == ("budget",)
    # Past the budget without proof: inconclusive (with a warning), not a silent "new".
    scattered = [summary(50 * MiB, heap_growth=g, heap_se=10.0) for g in (100.0, 2048.0, 4000.0)]
    assert decide(scattered, None, spec, POLICY).outcome is Outcome.INCONCLUSIVE
    vague = [summary(50 * MiB, heap_growth=2048.0, heap_se=3000.0)] * 3
    assert decide(vague, None, spec, POLICY).outcome is Outcome.INCONCLUSIVE
    assert decide(vague, None, spec, POLICY, final=False).needs_more_runs
    small = [summary(50 * MiB, heap_growth=512.0, heap_se=10.0)] * 3
    assert decide(small, None, spec, POLICY).outcome is Outcome.NEW


def test_no_baseline_and_no_budget_is_new():
    verdict = decide([summary(50 * MiB)] * 3, None, SPEC, POLICY)
    assert verdict.outcome is Outcome.NEW
    assert verdict.findings == ()


def test_budget_applies_with_a_baseline_too():
    spec = ScenarioSpec(max_peak=64 * MiB)
    runs = [summary(70 * MiB)] * 3
    verdict = decide(runs, runs, spec, POLICY)
    assert verdict.outcome is Outcome.REGRESSION
    assert verdict.reasons == ("budget",)
    both = decide(runs + runs[:1], [summary(50 * MiB)] * 3, spec, POLICY)
    assert set(both.reasons) == {"budget", "peak"}


# --- properties ---------------------------------------------------------------------------

run_strategy = st.builds(
    summary,
    peak_heap=st.integers(min_value=0, max_value=2**36),
    peak_rss=st.integers(min_value=0, max_value=2**36),
    heap_growth=st.floats(min_value=-1e5, max_value=1e6),
    heap_se=st.floats(min_value=0, max_value=1e4),
    rss_growth=st.floats(min_value=-1e5, max_value=1e6),
    rss_se=st.floats(min_value=0, max_value=1e4),
)
runs_strategy = st.lists(run_strategy, min_size=1, max_size=8)


@pytest.mark.calibration
@PROPERTY
@given(
    runs_strategy,
    st.floats(min_value=1.0, max_value=10.0),
    st.integers(min_value=0, max_value=2**30),
    st.floats(min_value=0, max_value=1e5),
    st.booleans(),
)
def test_pure_upward_shift_is_never_an_improvement(baseline, factor, extra_bytes, extra_growth, final):
    current = [
        summary(
            r.peak_heap_bytes * factor + extra_bytes,
            r.peak_rss_bytes * factor + extra_bytes,
            r.heap_growth + extra_growth,
            r.heap_growth_se,
            r.rss_growth + extra_growth,
            r.rss_growth_se,
        )
        for r in baseline
    ]
    verdict = decide(current, baseline, SPEC, POLICY, final=final)
    assert verdict.outcome is not Outcome.IMPROVED
    assert not any(f.improved for f in verdict.findings)


@PROPERTY
@given(runs_strategy)
def test_unchanged_runs_always_pass(runs):
    verdict = decide(runs, runs, SPEC, POLICY, final=True)
    assert verdict.outcome is Outcome.PASS


@PROPERTY
@given(runs_strategy, runs_strategy, st.booleans())
def test_verdict_is_consistent_with_its_findings(current, baseline, final):
    verdict = decide(current, baseline, SPEC, POLICY, final=final)
    regressed = [f for f in verdict.findings if f.regressed]
    assert (verdict.outcome is Outcome.REGRESSION) == bool(regressed)
    for f in regressed:
        assert f.comparison.p_increase < ALPHA
        assert not math.isnan(f.comparison.delta)
    for f in verdict.findings:
        c = f.comparison
        assert 0.0 <= c.p_increase <= 1.0 and 0.0 <= c.p_decrease <= 1.0
    if verdict.needs_more_runs:
        assert not final
        assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict_message(verdict)


def test_look_schedule_grows_and_ends_at_max_runs() -> None:
    assert look_schedule(2, 8, first=1) == [1, 2, 4, 8]
    assert look_schedule(3, 8) == [3, 6, 8]
    assert look_schedule(2, 2) == [2]
    assert look_schedule(2, 8, first=2) == [2, 4, 8]
    for first in range(1, 4):
        for runs in range(first, 6):
            for max_runs in range(runs, 30):
                looks = look_schedule(runs, max_runs, first=first)
                assert looks[0] == first and looks[-1] == max_runs and runs in looks
                assert looks == sorted(set(looks))


def _run_through(verdicts: Sequence[Verdict]) -> int:
    """Runs the session's loop takes when each look gives the next of ``verdicts``."""
    given = iter(verdicts)
    runs, _ = run_until_settled(lambda: None, LOOKS, lambda runs, final: next(given), confirm=CONFIRM)
    return len(runs)


def test_a_regression_needs_two_runs_and_a_pass_needs_one() -> None:
    regression = Verdict(Outcome.REGRESSION, (Reason.PEAK,))
    passing = Verdict(Outcome.PASS)
    unclear = Verdict(Outcome.INCONCLUSIVE, needs_more_runs=True)
    assert _run_through([passing]) == 1
    assert _run_through([regression, regression]) == 2
    assert _run_through([regression, passing]) == 2  # the odd first run was not confirmed
    assert _run_through([unclear, unclear, regression]) == 4
    assert _run_through([unclear] * 3 + [unclear]) == 8
    improved = Verdict(Outcome.IMPROVED)
    assert _run_through([improved, passing]) == 2  # "refresh the baseline" needs two runs too


@pytest.mark.calibration
def test_a_noisier_machine_than_the_baselines_raises_no_false_verdicts() -> None:
    """Baseline recorded where RSS wobbles by 2%, gate run where it wobbles by 8%. The first
    look gives the single run the baseline's spread, so one wide swing could look like a
    change; confirming it with a second run keeps both directions down (measured: 0.35%
    false regressions, 0.1% false improvements; 5% false improvements without confirming)."""
    rates, _ = adaptive_rate(noisy_rss(0.02), noisy_rss(0.08), 2000, seed=3, baseline_runs=[BASELINE_RUNS])
    assert rates[Outcome.REGRESSION] <= ALPHA
    assert rates[Outcome.IMPROVED] <= ALPHA


@pytest.mark.calibration
def test_one_odd_run_does_not_fail_the_build() -> None:
    """The first look sees one run; one run in ten peaking 8% higher must not fail 1 in 10.

    Measured with a first look that could fail on its own: 6.5% false alarms on this model.
    With regressions confirmed by a second run: about 0.5%."""
    rates, _ = adaptive_rate(
        occasional_outlier, occasional_outlier, 1500, seed=5, baseline_runs=[BASELINE_RUNS]
    )
    assert rates[Outcome.REGRESSION] <= ALPHA


def test_a_regression_names_what_else_moved_before_it_was_proven() -> None:
    """The gate stops once the peak is proven (a deterministic jump to a level the baseline
    never showed: four runs); a growth it could not prove yet (each run's slope known only
    to +-400 KiB/call) is still news."""
    baseline = [summary(MiB, heap_growth=0.0) for _ in range(BASELINE_RUNS)]
    slopes = (500 * KiB, 620 * KiB, 560 * KiB, 540 * KiB)
    current = [summary(30 * MiB, heap_growth=g, heap_se=400 * KiB) for g in slopes]
    verdict = decide(current, baseline, SPEC, GATE_POLICY, final=False)
    assert verdict.outcome is Outcome.REGRESSION
    assert verdict.reasons == ("peak",)
    growth = next(f for f in verdict.findings if f.metric is Metric.HEAP_GROWTH)
    assert growth.ambiguous and growth.past_tolerance and not growth.regressed
    message = verdict_message(verdict)
    assert "also past its tolerance, not yet proven: heap growth per call went from +0 B" in message


def _single_and_batched(
    baseline: Sequence[RunSummary], stream: Sequence[RunSummary], policy: Policy
) -> tuple[tuple[list[RunSummary], Verdict], tuple[list[RunSummary], Verdict], list[int]]:
    """The loop over the same runs taken one by one and in batches, and the batch sizes."""

    def judge(runs: Sequence[RunSummary], final: bool) -> Verdict:
        return decide(runs, baseline, SPEC, policy, final=final)

    single, batched_stream = iter(stream), iter(stream)
    sizes: list[int] = []

    def batch(count: int) -> list[RunSummary]:
        sizes.append(count)
        return [next(batched_stream) for _ in range(count)]

    one_by_one = run_until_settled(lambda: next(single), LOOKS, judge, confirm=CONFIRM)
    batched = run_until_settled(lambda: pytest.fail("unused"), LOOKS, judge, confirm=CONFIRM, batch=batch)
    return one_by_one, batched, sizes


@pytest.mark.calibration
def test_batched_runs_give_the_verdict_of_runs_taken_one_by_one() -> None:
    """Runs up to the next look go in one batch (in parallel, where cores allow), one at a
    time while an increase waits for its confirmation: the verdict and the runs it took are
    those of the loop that takes every run singly, over models that end at every look and
    one (a jump to an unseen level) whose confirming runs fall between looks."""

    def level(peak: float) -> Make:
        return lambda rng: summary(peak)

    models: list[tuple[Make, Make, Policy]] = [
        (_heap_noise, _heap_noise, GATE_POLICY),
        (odd_levels, odd_levels, GATE_POLICY),
        (noisier(1.0), noisier(4.0, rss_shift=0.2), GATE_POLICY),
        (level(20 * MiB), level(26 * MiB), session_policy(3)),
        (level(20 * MiB), level(26 * MiB), session_policy(200)),
    ]
    batches_seen: set[int] = set()
    for trial in range(200):
        make_baseline, make_current, policy = models[trial % len(models)]
        rng = np.random.default_rng(trial)
        baseline = [make_baseline(rng) for _ in range(BASELINE_RUNS)]
        stream = [make_current(rng) for _ in range(LOOKS[-1] * CONFIRM_BEYOND)]
        one_by_one, batched, sizes = _single_and_batched(baseline, stream, policy)
        assert batched == one_by_one, trial
        assert sum(sizes) == len(batched[0]), f"{trial}: runs measured past the one that settled it"
        batches_seen.update(sizes)
    assert {1, 2, 4} <= batches_seen


def test_a_batch_cut_short_by_a_failed_run_ends_the_loop() -> None:
    failed = Verdict(Outcome.ERROR, (Reason.CRASHED,))
    runs, verdict = run_until_settled(
        lambda: pytest.fail("unused"),
        [6],
        lambda runs, final: pytest.fail("no look after a failed run"),
        confirm=CONFIRM,
        failed=lambda run, number: failed if run == "crashed" else None,
        batch=lambda count: ["ok", "crashed"],
    )
    assert (runs, verdict) == (["ok", "crashed"], failed)


# --- the session's rate: every test a scenario may make is counted ------------------------


def _tested_levels(verdict_findings: Sequence[object]) -> list[float]:
    """The levels of the findings that rest on a p-value (comparisons, growth budgets,
    scaling), one per test made."""
    levels = []
    for f in verdict_findings:
        alpha = getattr(getattr(f, "evidence", None), "alpha", None)
        if alpha is not None:
            levels.append(float(alpha))
    return levels


@pytest.mark.parametrize("scenarios", [1, 200])
def test_each_scenario_keeps_the_session_rate_over_every_test_it_may_make(scenarios: int) -> None:
    """Bonferroni holds the session to ``alpha`` only if the levels of every test the
    procedure may make add up to at most ``alpha``. Replays each look the gate may take
    (1, 2, 4, 8 runs) for a plain scenario, one with a ``max_growth`` budget, and a
    3-size family with a baseline and ``max_exponent`` (whose scaling tests its last size
    makes), through the session's own policy, and adds up the levels each finding was
    tested at: a scenario's tests may spend ``alpha / scenarios`` in all. A count that left
    out the looks, the budgets or the scaling tests spends more than that."""
    from pytest_memgate.families import judge_family

    policy = session_policy(scenarios)
    rng = np.random.default_rng(90)
    baseline = [_heap_spread(rng) for _ in range(BASELINE_RUNS)]
    current = [_heap_spread(rng) for _ in range(max(LOOKS))]
    sizes = (1000, 2000, 4000)
    specs = {
        "plain": SPEC,
        "budget": ScenarioSpec(max_growth=64),
        "family": ScenarioSpec(sizes=sizes, max_exponent=1.5, max_growth=64),
    }
    for name, spec in specs.items():
        levels = []
        for look in LOOKS:
            levels += _tested_levels(decide(current[:look], baseline, spec, policy, final=False).findings)
        if spec.sizes:
            peaks = {n: [int(n * 1000 * (1 + 0.01 * rng.normal())) for _ in range(2)] for n in sizes}
            old = {n: [int(n * 1000 * (1 + 0.01 * rng.normal())) for _ in range(6)] for n in sizes}
            findings, _ = judge_family("f", peaks, old, spec, policy)
            scaling = _tested_levels(findings)
            assert len(scaling) == 2  # against the baseline, and max_exponent
            levels += scaling
        assert sum(levels) <= ALPHA / scenarios * (1 + 1e-9), (name, sum(levels) * scenarios)
    # A plain scenario spends its whole share: nothing is counted that is never tested.
    plain = []
    for look in LOOKS:
        plain += _tested_levels(decide(current[:look], baseline, SPEC, policy, final=False).findings)
    assert sum(plain) == pytest.approx(ALPHA / scenarios)


# --- growth budgets on autocorrelated floors ----------------------------------------------


def ar_floor(rng: np.random.Generator, phi: float = 0.9, sd: float = 3000.0) -> NDArrayF:
    """(g) A flat heap floor that drifts: AR(1) with coefficient ``phi`` and stationary sd
    ``sd`` bytes (an arena or free list kept for a few calls), over the gate's 51 floors."""
    e = rng.normal(0.0, sd * math.sqrt(1 - phi**2), CALLS + 1)
    x = np.empty(CALLS + 1)
    x[0] = rng.normal(0.0, sd)
    for i in range(1, CALLS + 1):
        x[i] = phi * x[i - 1] + e[i]
    return 8 * MiB + x


@functools.cache
def ar_pool(size: int = 150, seed: int = 60) -> tuple[tuple[RunSummary, float], ...]:
    """Flat AR(0.9) runs through the real slope estimator (``analyse_growth``), each with the
    Mann-Kendall p of its floor (what ``classify_shape`` combines)."""
    rng = np.random.default_rng(seed)
    pool = []
    for _ in range(size):
        gated = analyse_growth(ar_floor(rng).tolist()).gated
        pool.append((summary(20 * MiB, heap_growth=gated.slope, heap_se=gated.se), gated.trend_p))
    return tuple(pool)


def _decide_against(
    taken: Sequence[RunSummary], final: bool, *, baseline: Sequence[RunSummary], spec: ScenarioSpec
) -> Verdict:
    return decide(taken, baseline, spec, GATE_POLICY, final=final)


def _budget_finding(verdict: Verdict) -> Finding:
    return next(f for f in verdict.findings if f.reason is Reason.BUDGET)


def test_growth_budget_pvalues_are_calibrated_on_autocorrelated_floors() -> None:
    """A flat AR(0.9) floor against a 1 B/call budget (the boundary of "within budget"),
    6 baseline runs and 2 current ones: the budget's p-value must fall under 0.05 in at most
    5% of draws. 1000 draws (99.9% band up to 0.074): a doubled rate (0.10) fails. The
    floors' Mann-Kendall p (combined over runs by Stouffer's method) ignores the
    autocorrelation: measured 0.24 here."""
    pool = ar_pool()
    rng = np.random.default_rng(61)
    spec = ScenarioSpec(max_growth=1)
    draws, hits = 1000, 0
    for _ in range(draws):
        picked = rng.choice(len(pool), BASELINE_RUNS + 2, replace=False)
        baseline = [pool[i][0] for i in picked[:BASELINE_RUNS]]
        current = [pool[i] for i in picked[BASELINE_RUNS:]]
        trend_p = combine_pvalues([p for _, p in current])
        verdict = decide([s for s, _ in current], baseline, spec, GATE_POLICY, trend_p=trend_p, final=False)
        check = _budget_finding(verdict).evidence
        assert isinstance(check, BudgetCheck) and check.trend_p is not None
        hits += check.trend_p < 0.05
    assert hits / draws <= 0.074, hits / draws  # measured 0.018
    assert hits / draws >= 0.01  # the p-value is not degenerate: a real test


def test_growth_budget_raises_no_false_alarm_on_autocorrelated_floors() -> None:
    """The issue's case: flat AR(0.9) floors, a 64 B/call budget, a baseline of 6 runs, the
    gate's looks at one scenario's level. 600 scenarios (about 1 s): the budget's share of
    the rate is 0.002, so a calibrated procedure fails none or few (at most 3: P < 0.4% for
    a rate of 0.002); measured 0. The Mann-Kendall budget failed 12.7% (76 of 600)."""
    pool = ar_pool()
    rng = np.random.default_rng(62)
    spec = ScenarioSpec(max_growth=64)
    trials, fails = 600, 0
    for _ in range(trials):
        picked = rng.choice(len(pool), BASELINE_RUNS + max(LOOKS), replace=False)
        baseline = [pool[i][0] for i in picked[:BASELINE_RUNS]]
        runs = iter([pool[i] for i in picked[BASELINE_RUNS:]])

        def judge(
            taken: Sequence[tuple[RunSummary, float]], final: bool, baseline: list[RunSummary] = baseline
        ) -> Verdict:
            trend_p = combine_pvalues([p for _, p in taken])
            return decide([s for s, _ in taken], baseline, spec, GATE_POLICY, trend_p=trend_p, final=final)

        _, verdict = run_until_settled(partial(next, runs), LOOKS, judge, confirm=CONFIRM)
        fails += verdict.outcome is Outcome.REGRESSION and Reason.BUDGET in verdict.reasons
    assert fails <= 3, fails


def test_growth_budget_catches_a_leak_on_autocorrelated_floors() -> None:
    """The same floors leaking 1 KiB/call for good against the 64 B/call budget, against a
    baseline of 6 runs through the gate's looks: caught in every trial (the slopes' spread,
    about 120 B/call, is small against the leak; a look that cannot prove it yet takes more
    runs). Without a baseline the gate takes 2 runs, whose slopes' spread has one degree of
    freedom: 1 KiB/call is not proven at one scenario's level and ends inconclusive (docs/concepts.md,
    Limits; 64 KiB/call measured: proven in 75 of 100), 1 MiB/call is proven."""
    pool = ar_pool()
    rng = np.random.default_rng(63)
    spec = ScenarioSpec(max_growth=64)

    def leaking(picked: Sequence[int], leak: float) -> list[RunSummary]:
        return [replace(pool[i][0], heap_growth=pool[i][0].heap_growth + leak) for i in picked]

    alone: dict[int, list[Outcome]] = {1024: [], 64 * 1024: [], MiB: []}
    for trial in range(100):
        picked = rng.choice(len(pool), BASELINE_RUNS + max(LOOKS), replace=False)
        baseline = [pool[i][0] for i in picked[:BASELINE_RUNS]]
        runs = iter(leaking(picked[BASELINE_RUNS:], 1024))
        _, verdict = run_until_settled(
            partial(next, runs),
            LOOKS,
            partial(_decide_against, baseline=baseline, spec=spec),
            confirm=CONFIRM,
        )
        assert Reason.BUDGET in verdict.reasons, (trial, _budget_finding(verdict).evidence)
        for leak, outcomes in alone.items():
            outcomes.append(
                decide(leaking(picked[BASELINE_RUNS:][:CONFIRM], leak), None, spec, GATE_POLICY).outcome
            )
    assert set(alone[1024]) == {Outcome.INCONCLUSIVE}
    assert set(alone[MiB]) == {Outcome.REGRESSION}
    assert set(alone[64 * 1024]) <= {Outcome.REGRESSION, Outcome.INCONCLUSIVE}


# --- the noisier-machine guard on page-quantized floors -----------------------------------


def _quantized_rss_se(rng: np.random.Generator, sd: float) -> float:
    """The RSS slope error ``summarize_run`` gives a flat floor with ``sd`` bytes of scatter
    read in 4 KiB pages."""
    floor = 40 * MiB + np.floor((2048 + rng.normal(0.0, sd, CALLS + 1)) / 4096) * 4096
    record = RunRecord(
        status=RunStatus.OK,
        backend="memray",
        warmup=10,
        iterations=CALLS,
        peak_heap_bytes=20 * MiB,
        peak_rss_bytes=80 * MiB,
        heap_floor_bytes=tuple([8 * MiB] * (CALLS + 1)),
        rss_floor_bytes=tuple(int(v) for v in floor),
    )
    return summarize_run(record).rss_growth_se


def test_the_noisier_machine_guard_sees_page_quantized_floors() -> None:
    """Quiet runs (8 KiB of floor scatter in 4 KiB pages) as the baseline's 6, one run from a
    machine whose floors scatter 4x as much. The jackknife error alone was exactly 0 in 47%
    of the quiet runs (the Theil-Sen slope of tied readings never moves) and the guard,
    floored at the test's 256 B/call, fired on 27% of the noisy runs (measured over 120; 80 each here).
    Floored at the readings' own scatter (``metrics.scatter_se``) and compared above 16
    B/call: no zero error, the guard fires on 65% of the noisy runs (62% of 120 in another
    draw) and on 1 of the 80 runs from the same machine (which then takes one more run)."""
    rng = np.random.default_rng(95)
    quiet = [_quantized_rss_se(rng, 8 * KiB) for _ in range(80)]
    noisy = [_quantized_rss_se(rng, 32 * KiB) for _ in range(80)]
    same = [_quantized_rss_se(rng, 8 * KiB) for _ in range(80)]
    assert min(quiet) > 0
    fires = calm_fires = 0
    for i in range(80):
        baseline = [summary(20 * MiB, rss_se=float(se)) for se in rng.choice(quiet, BASELINE_RUNS)]
        for run, se in ((noisy, "noisy"), (same, "same")):
            findings = compare_runs([summary(20 * MiB, rss_se=run[i])], baseline, GATE_POLICY)
            rss = next(f for f in findings if f.metric is Metric.RSS_GROWTH)
            hit = unvouched(rss.comparison, rss.evidence.noise)  # type: ignore[arg-type, union-attr]
            fires += hit and se == "noisy"
            calm_fires += hit and se == "same"
    assert fires / 80 >= 0.5, fires
    assert calm_fires / 80 <= 0.03, calm_fires


# --- the cheap first look -------------------------------------------------------------------


def _growth_finding(delta: float) -> Finding:
    c = Comparison(
        baseline=2048.0, current=2048.0 + delta, delta=delta, delta_low=delta - 3000, delta_high=delta + 3000,
        ratio=1.0, ratio_low=1.0, ratio_high=1.0, p_increase=0.9, p_decrease=0.1, n_baseline=3, n_current=1,
    )  # fmt: skip
    evidence = RateTest(c, alpha=1e-4, needed=256.0, pooled=True)
    return Finding(Metric.HEAP_GROWTH, Reason.GROWTH, evidence, regressed=False)


def _cheap(blocks: float, se: float = 0.0) -> RunSummary:
    return RunSummary(8 * MiB, 12 * MiB, 0.0, 0.0, 0.0, 0.0, blocks_growth=blocks, blocks_growth_se=se)


def test_an_unproven_heap_fall_past_its_tolerance_is_not_a_clear_first_look() -> None:
    """A look that passes but whose heap growth fell by more than its tolerance goes on to
    the full runs, which can prove the fall (and a release branch record it)."""
    fell = _growth_finding(-2048.0)
    verdict = Verdict(Outcome.PASS, (), (fell,))
    doubt = screen_doubt(verdict, [_cheap(0.0)], [_cheap(0.0)] * 3, POLICY)
    assert doubt == ScreenDoubt(Doubt.IMPROVEMENT, fell)
    assert screen_text(verdict, doubt) == (
        "not a clear pass (heap growth -2.00 KiB/call, a fall past the 256 B/call tolerance "
        "that traced runs can record): traced runs follow"
    )
    small = Verdict(Outcome.PASS, (), (_growth_finding(-100.0),))
    assert screen_doubt(small, [_cheap(0.0)], [_cheap(0.0)] * 3, POLICY) is None
    assert screen_text(small, None) == "pass"


def test_blocks_a_call_that_could_hide_growth_are_not_a_clear_first_look() -> None:
    """Half a block a call at up to 512 bytes a block is the 256 B/call tolerance: at the
    slope's upper end (estimate + 3 errors) past it, the traced runs judge."""
    verdict = Verdict(Outcome.PASS, (), (_growth_finding(0.0),))
    base = [_cheap(0.0)] * 3
    assert screen_doubt(verdict, [_cheap(0.3, 0.05)], base, POLICY) is None  # up to 0.45
    doubt = screen_doubt(verdict, [_cheap(0.3, 0.1)], base, POLICY)  # up to 0.6
    assert doubt is not None and doubt.kind is Doubt.BLOCKS
    assert doubt.blocks_per_call == pytest.approx(0.6) and doubt.bytes_per_call == pytest.approx(0.6 * 512)
    assert "pymalloc blocks up to +0.60/call over the baseline's" in screen_text(verdict, doubt)
    uncounted_base = [RunSummary(8 * MiB, 12 * MiB, 0.0, 0.0, 0.0, 0.0)]
    uncounted = screen_doubt(verdict, [_cheap(0.0)], uncounted_base, POLICY)
    assert uncounted is not None and math.isinf(uncounted.bytes_per_call)
    unclear = Verdict(Outcome.INCONCLUSIVE, (), (), needs_more_runs=True)
    assert screen_doubt(unclear, [_cheap(0.0)], base, POLICY) == ScreenDoubt(Doubt.UNCLEAR)


def test_the_blocks_floor_drops_transient_spikes_but_keeps_a_leak() -> None:
    """Counts measured between calls of an unchanged scenario (a run's spikes of 5-20 blocks
    gave a slope error of 0.23 block a call, past what the first look lets pass)."""
    spiky = [531664, 531675, 531675, 531675, 531675, 531675, 531695, 531675, 531677, 531677, 531677,
             531686, 531675, 531677, 531675, 531675, 531675, 531678, 531677, 531675, 531677]  # fmt: skip
    assert analyse_growth(spiky).tail.se > 0.2  # the half a warm-up call would gate on
    steady = analyse_growth(settled_floor(spiky)).gated
    assert steady.slope == 0.0 and steady.se < 0.05
    leak = [531000 + i + 12 * (i % 5 == 3) for i in range(21)]  # a block a call, and spikes
    assert analyse_growth(settled_floor(leak)).gated.slope == pytest.approx(1.0)


# --- RSS peaks from a machine whose peaks are noisier than its floors -------------------


def _noisier_peaks_false_alarms(ratio: float, trials: int, seed: int) -> int:
    """RSS-peak false regressions, sizes off, over the looks that can fail a scenario (2, 4
    and 8 runs; the first stops at the first), 6 baseline runs with 2% noise against runs
    from a machine whose peaks are ``ratio`` times as noisy (its floors are not, so the
    noisier-machine guard is silent), at one scenario's per-test level: the RSS peak's
    test (``stats.level_p``, larger spread), vectorised."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 0.02, (trials, BASELINE_RUNS))
    runs = rng.normal(0, 0.02 * ratio, (trials, LOOKS[-1]))
    failed = np.zeros(trials, bool)
    for n in LOOKS[1:]:
        cur = runs[:, :n]
        p = level_p(
            cur.mean(1) - base.mean(1),
            base.var(1, ddof=1),
            BASELINE_RUNS,
            cur.var(1, ddof=1),
            n,
            LARGER,
            floor=GATE_POLICY.peak_resolution**2,
        )
        failed |= p < GATE_POLICY.alpha
    return int(failed.sum())


@pytest.mark.calibration
@pytest.mark.parametrize("ratio", [2.0, 4.0, 8.0])
def test_rss_peaks_of_a_noisier_machine_stay_within_the_metrics_share(ratio: float) -> None:
    """20,000 unchanged scenarios, the RSS peak alone, sizes off: one metric's share of one
    scenario's rate over its looks is ``metric_alpha`` (0.0025), 50 expected at most; the
    bound is Binomial(20000, 0.0025)'s 99.9% point (73). Before the current runs' own test
    bounded it (pooled degrees of freedom for two runs' variance): 1.6x, 7.6x and 15x that
    share at 2x, 4x and 8x the noise (measured, seed 90); now 0.04-0.24x."""
    trials = 20_000
    bound = sps_binom.ppf(0.999, trials, GATE_POLICY.metric_alpha)
    hits = _noisier_peaks_false_alarms(ratio, trials, seed=90)
    assert hits <= bound, f"{hits / trials:.4f} against {GATE_POLICY.metric_alpha}"
