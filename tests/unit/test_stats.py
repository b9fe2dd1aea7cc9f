"""Statistics on simulated data with a known truth: edge cases, calibration, invariants.

Every simulation is seeded, so a failure reproduces exactly; the sample sizes are chosen
so that a correct implementation passes with a wide margin, not by luck of the seed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import special
from scipy import stats as sps

import pytest_memgate.stats as stats_module
from pytest_memgate.slopes import compare_rates, fit_slope, upward_trend_p
from pytest_memgate.stats import (
    bonferroni,
    combine_pvalues,
    compare_levels,
    hodges_lehmann,
    level_spread,
    odd_run,
    odd_runs_needed,
    odd_share_p,
    unseen_level,
)

MiB = 1024**2
ALPHA = 0.01

PROPERTY = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _assert_valid_pvalues(c) -> None:
    for p in (c.p_increase, c.p_decrease):
        assert not math.isnan(p)
        assert 0.0 <= p <= 1.0


# --- compare_levels: edge cases -------------------------------------------------------


def test_identical_peaks_give_a_neutral_finite_comparison():
    c = compare_levels([50 * MiB] * 3, [50 * MiB] * 3)
    _assert_valid_pvalues(c)
    assert c.p_increase == pytest.approx(0.5)
    assert c.p_decrease == pytest.approx(0.5)
    assert c.ratio == 1.0
    assert c.delta == 0.0
    assert c.ratio_low < 1.0 < c.ratio_high
    assert not c.insufficient_data


def test_one_byte_difference_between_deterministic_peaks_is_not_evidence():
    c = compare_levels([50 * MiB] * 3, [50 * MiB + 1] * 3)
    _assert_valid_pvalues(c)
    assert c.p_increase > 0.4
    assert c.ratio == pytest.approx(1.0, abs=1e-6)


def test_difference_far_above_the_resolution_is_evidence_even_without_spread():
    # Deterministic peaks: 2% apart is 20 resolutions, which is overwhelming evidence.
    c = compare_levels([50 * MiB] * 3, [int(50 * MiB * 1.02)] * 3)
    assert c.p_increase < 1e-4
    assert c.ratio == pytest.approx(1.02, rel=1e-4)
    assert c.ratio_low < 1.02 < c.ratio_high


def test_zero_peaks_compare_without_error():
    c = compare_levels([0, 0, 0], [0, 0, 0])
    _assert_valid_pvalues(c)
    assert c.ratio == 1.0
    assert c.delta == 0.0
    c = compare_levels([0, 0, 0], [4096, 4096, 4096])
    _assert_valid_pvalues(c)
    assert c.ratio == pytest.approx(2.0)  # (4096 + offset) / offset
    assert math.isfinite(c.delta)


def test_huge_difference_gives_a_tiny_p():
    rng = np.random.default_rng(1)
    base = 10 * MiB * np.exp(rng.normal(0, 0.02, 3))
    cur = 100 * MiB * np.exp(rng.normal(0, 0.02, 3))
    c = compare_levels(base, cur)
    assert c.p_increase < 1e-4
    assert c.p_decrease > 0.999
    assert c.ratio == pytest.approx(10, rel=0.1)
    assert c.ratio_low > 5
    assert c.delta > 80 * MiB


def test_decrease_is_seen_by_p_decrease():
    rng = np.random.default_rng(2)
    base = 100 * MiB * np.exp(rng.normal(0, 0.01, 3))
    cur = 80 * MiB * np.exp(rng.normal(0, 0.01, 3))
    c = compare_levels(base, cur)
    assert c.p_decrease < ALPHA
    assert c.p_increase > 1 - ALPHA
    assert c.ratio == pytest.approx(0.8, rel=0.03)
    assert c.delta < 0


def test_one_odd_run_barely_moves_the_effect_estimate():
    # Hodges-Lehmann: one +50% run among three leaves the median pairwise shift near 0.
    c = compare_levels([50 * MiB] * 3, [50 * MiB, 50 * MiB, 75 * MiB])
    assert c.ratio == pytest.approx(1.0, abs=1e-9)
    assert c.p_increase > ALPHA


def test_an_odd_baseline_run_is_left_out_of_the_level_test():
    """Five identical runs and one 8% higher: counted, that run's spread hides a +5% peak
    (p = 0.09); left out, the +5% is overwhelming evidence, with the same effect."""
    c = compare_levels([20 * MiB] * 5 + [21.6 * MiB], [21 * MiB] * 2)
    assert c.p_increase < 1e-6
    assert c.ratio == pytest.approx(1.05, rel=1e-3)
    assert c.n_baseline == 6


def test_an_odd_run_needs_six_runs_and_a_gap_of_sixteen_spreads():
    logs = np.log([20.0] * 5 + [21.6])
    assert odd_run(logs, 0.001)
    assert not odd_run(logs[1:], 0.001)  # five runs cannot tell
    assert not odd_run(logs, 0.005)  # 7.7% is under 16 resolutions of 0.5%
    assert not odd_run(np.log([20.0] * 4 + [21.6] * 2), 0.001)  # two high runs are a level


def test_gaussian_runs_are_almost_never_called_odd():
    """The exclusion must leave the t-test alone where peaks vary smoothly: measured 2 in
    10,000 draws of 6 Gaussian runs (4 of 10,000 may pass), none of 8."""
    rng = np.random.default_rng(4)
    assert sum(odd_run(rng.normal(0, 0.01, 6), 1e-4) for _ in range(10_000)) <= 4
    assert sum(odd_run(rng.normal(0, 0.01, 8), 1e-4) for _ in range(10_000)) == 0


@pytest.mark.parametrize(
    ("current", "seen", "high"),
    [
        ([20.0] * 2, None, 0),  # on the main level: the t-test alone
        ([20.0, 21.6], 1, 1),  # one run on the main level, one on the odd run's
        ([20.0, 20.0, 26.0], 0, 1),  # two on the main level, one beyond every baseline run
        ([21.6] * 2, 1, 2),  # on the odd run's level: seen once in 6
        ([21.0] * 3, 1, 3),  # under it, above the main level
        ([21.7] * 2, 1, 2),  # within six spreads above it
        ([26.0] * 3, 0, 3),  # beyond every baseline run: never seen
    ],
)
def test_odd_runs_count_the_baseline_runs_as_high_as_the_current_ones(current, seen, high):
    baseline = [20.0 * MiB] * 5 + [21.6 * MiB]
    level = unseen_level(baseline, [v * MiB for v in current])
    assert level.high == high
    if seen is None:
        assert level.p == 0.0
        return
    assert (level.seen, level.baseline, level.current) == (seen, 6, len(current))
    assert level.p == pytest.approx(odd_share_p(seen, 6, len(current), high))
    # the runs left on the main level did not move
    assert level.main_p == (1.0 if high == len(current) else pytest.approx(0.5))


def test_a_main_level_that_moved_is_a_change_whatever_runs_sit_above_it():
    """Baseline runs scattering 1%; four current runs 3% up (within six spreads of the
    main level) and one 30% up. The run up there could be an odd run, but the t-test of the
    other four alone shows the main level moved (t = 6.2, 8 degrees of freedom)."""
    baseline = [20.0 * MiB * (1 + 0.01 * z) for z in (-1.3, -0.6, -0.2, 0.2, 0.6, 1.3)]
    level = unseen_level(baseline, [20.6 * MiB] * 4 + [26.0 * MiB])
    assert (level.high, level.current, level.seen) == (1, 5, 0)
    assert level.main_p < 1e-3
    unmoved = unseen_level(baseline, [20.0 * MiB] * 4 + [26.0 * MiB])
    assert (unmoved.high, unmoved.main_p) == (1, pytest.approx(0.5, abs=0.01))


def test_a_baseline_without_an_odd_run_counts_none_seen():
    level = unseen_level([20 * MiB] * 6, [21.6 * MiB] * 2)
    assert (level.p, level.seen, level.baseline, level.high) == (pytest.approx(odd_share_p(0, 6, 2)), 0, 6, 2)
    # Two high runs are not odd: they stay in the spread, and 21.6 MiB sits within it.
    assert unseen_level([20 * MiB] * 4 + [21.6 * MiB] * 2, [21.6 * MiB] * 2).p == 0.0


@pytest.mark.parametrize("seen", [0, 1, 2])
@pytest.mark.parametrize("current", [1, 2, 3, 4, 6, 8, 12, 22])
def test_the_odd_share_bound_is_the_worst_share(seen, current):
    """``odd_share_p`` is the largest chance over every share q of runs on the level: that
    6 baseline runs showed it at most ``seen`` times and ``current`` runs all sat on it
    (scipy's binomial on a fine grid of q, which can only fall short of the maximum)."""
    q = np.linspace(1e-6, 1 - 1e-6, 200_001)
    grid = float(np.max(sps.binom.cdf(seen, 6, q) * q**current))
    bound = odd_share_p(seen, 6, current)
    assert grid <= bound * (1 + 1e-9)
    assert bound == pytest.approx(grid, rel=1e-4)


@pytest.mark.parametrize("share", [0.05, 0.125, 1 / 3, 0.5, 0.7])
def test_the_odd_share_bound_holds_for_two_level_runs_of_any_share(share):
    """Known truth: runs on a second level in ``share`` of them. How often 6 baseline runs
    show it at most once and the next k all land on it, by simulation (200,000 draws), never
    exceeds the bound. The rule of succession it replaced, (m + 1)/(n + 2) per run, is
    exceeded at shares of a third and a half: with four current runs and no baseline run
    on the level, 4.4x and 4.0x (exact binomials), and this simulation sees it."""
    rng = np.random.default_rng(7)
    draws = rng.random((200_000, 6 + 4)) < share
    seen = draws[:, :6].sum(axis=1)
    for k in (2, 3, 4):
        high = draws[:, 6 : 6 + k].all(axis=1)
        for m in (0, 1):
            rate = float(np.mean(high & (seen <= m)))
            assert rate <= odd_share_p(m, 6, k) * 1.1 + 3e-5, (k, m, rate)
    succession = (1 / 8) ** 4
    rate = float(np.mean(draws[:, 6:].all(axis=1) & (seen == 0)))
    assert (rate > 2 * succession) == (share in (1 / 3, 0.5)), rate / succession


def test_odd_runs_needed_is_where_the_bound_meets_the_budget():
    for seen, scenarios, runs in [(0, 1, 4), (0, 10, 6), (0, 200, 12), (1, 1, 6), (1, 10, 11), (1, 200, 22)]:
        budget = 0.01 / (4 * scenarios)  # one peak's share of a scenario's alpha, over every look
        assert odd_runs_needed(seen, 6, budget) == runs
        assert odd_share_p(seen, 6, runs) <= budget < odd_share_p(seen, 6, runs - 1)
    assert odd_runs_needed(0, 6, 1e-300, most=20) == 21


@pytest.mark.parametrize("nb, nc", [(0, 3), (3, 0), (1, 1), (0, 0)])
def test_too_few_runs_are_flagged_not_tested(nb, nc):
    c = compare_levels([50 * MiB] * nb, [60 * MiB] * nc)
    assert c.insufficient_data
    assert c.p_increase == 1.0
    assert c.p_decrease == 1.0
    assert c.ratio_low <= 1.0 <= c.ratio_high
    assert (c.n_baseline, c.n_current) == (nb, nc)


def test_insufficient_levels_still_report_the_point_ratio():
    c = compare_levels([10 * MiB], [100 * MiB])
    assert c.insufficient_data
    assert c.ratio == pytest.approx(10, rel=0.01)
    assert c.delta == 90 * MiB


@pytest.mark.parametrize("nb, nc", [(1, 2), (2, 1), (1, 8)])
def test_a_single_run_on_one_side_is_compared(nb, nc):
    c = compare_levels([50 * MiB] * nb, [100 * MiB] * nc)
    assert not c.insufficient_data
    _assert_valid_pvalues(c)
    assert c.p_increase < 0.01
    assert c.ratio == pytest.approx(2, rel=1e-3)


# --- compare_rates: edge cases --------------------------------------------------------


def test_zero_slopes_with_zero_errors_are_neutral():
    c = compare_rates([0.0] * 3, [0.0] * 3, [0.0] * 3, [0.0] * 3)
    _assert_valid_pvalues(c)
    assert c.p_increase == pytest.approx(0.5)
    assert c.delta == 0.0
    assert c.ratio == 1.0


def test_rate_difference_below_resolution_is_not_evidence():
    c = compare_rates([0.0] * 3, [0.0] * 3, [1.0] * 3, [0.0] * 3)
    assert c.p_increase > 0.3


def test_clear_leak_against_a_flat_baseline():
    c = compare_rates([0.0] * 3, [0.0] * 3, [512.0, 510.0, 515.0], [2.0] * 3)
    assert c.p_increase < 1e-4
    assert c.delta == pytest.approx(512, abs=5)
    assert c.delta_low < c.delta < c.delta_high
    assert c.ratio == math.inf


def test_within_run_error_limits_the_evidence():
    # Identical slopes but each known only to +-1000 B/call: a 500 B/call change is not proven.
    c = compare_rates([0.0] * 3, [1000.0] * 3, [500.0] * 3, [1000.0] * 3)
    assert c.p_increase > ALPHA
    tight = compare_rates([0.0] * 3, [1.0] * 3, [500.0] * 3, [1.0] * 3)
    assert tight.p_increase < 1e-4


def test_pooled_spread_proves_a_steady_leak_in_two_runs():
    """Two runs of a leak agree exactly, each slope known to +-25 KiB/call. Welch's test
    gives the two-run side a single degree of freedom and cannot prove even +588 KiB/call
    at the gate's level; one spread for both sides (they share it without a change) can."""
    base, base_se = [0.0] * 6, [0.0] * 6
    leak, leak_se = [588 * 1024.0] * 2, [25 * 1024.0] * 2
    welch = compare_rates(base, base_se, leak, leak_se)
    pooled = compare_rates(base, base_se, leak, leak_se, spread="pooled")
    assert welch.p_increase > 1e-3
    assert pooled.p_increase < 1e-6
    _assert_valid_pvalues(pooled)


def test_pooled_spread_never_drops_a_single_runs_own_error():
    """With one current run the pool holds only the baseline's spread; the run's own,
    larger error must still count."""
    c = compare_rates([0.0] * 6, [1.0] * 6, [500.0], [1000.0], spread="pooled")
    assert c.p_increase > 0.3


def test_pooled_and_welch_agree_when_both_sides_share_a_spread():
    rng = np.random.default_rng(21)
    for _ in range(50):
        x, y = rng.normal(0, 50, 6), rng.normal(0, 50, 6)
        errors = [1.0] * 6
        welch = compare_rates(x, errors, y, errors)
        pooled = compare_rates(x, errors, y, errors, spread="pooled")
        assert pooled.p_increase == pytest.approx(welch.p_increase, abs=0.03)


@pytest.mark.parametrize("nb, nc", [(0, 3), (1, 1)])
def test_rates_with_too_few_runs_are_flagged(nb, nc):
    c = compare_rates([0.0] * nb, [0.0] * nb, [100.0] * nc, [1.0] * nc)
    assert c.insufficient_data
    assert c.p_increase == 1.0


# --- calibration of the p-values ------------------------------------------------------
#
# Under no change, P(p < ALPHA) must not exceed ALPHA. Each case runs TRIALS simulations and
# allows at most FALSE_ALARM_LIMIT hits: the 99.9% quantile of Binomial(TRIALS, ALPHA). A
# correct test at the nominal level exceeds it with probability under 0.1%; a doubled rate
# (0.02) stays within it with probability 1.5%, so a test twice as liberal as it claims
# fails. 3000 trials would leave that at 6%, 2000 at 24%.

TRIALS = 4000
FALSE_ALARM_LIMIT = int(sps.binom.ppf(0.999, TRIALS, ALPHA))  # 61 hits, a rate of 0.01525
# Two stages, the same power: after half the trials, at most EARLY_PASS hits in each tail pass
# (a doubled rate gets that low with probability 0.13%); otherwise every trial counts. A doubled
# rate then passes 1.6% of the time (1.5% with every trial); most calibrated cases stop early.
EARLY_PASS = 22


@pytest.mark.parametrize(("nb", "nc"), [(3, 3), (1, 3), (1, 8), (6, 1), (6, 2)])
def test_p_decrease_is_the_mirrored_comparisons_p_increase(nb: int, nc: int) -> None:
    """``compare(b, c).p_decrease == compare(c, b).p_increase`` exactly, for levels and rates.

    So the lower tail of an (nb, nc) case is the upper tail of (nc, nb) on the same data:
    checking both tails of (1, 3) and (1, 8) below also calibrates (3, 1) and (8, 1), and
    those of (6, 1) and (6, 2) calibrate (1, 6) and (2, 6).
    """
    rng = np.random.default_rng(4 + nb + nc)
    for _ in range(20):
        base, cur = 50 * MiB * np.exp(rng.normal(0, 0.02, nb)), 50 * MiB * np.exp(rng.normal(0, 0.02, nc))
        assert compare_levels(base, cur).p_decrease == compare_levels(cur, base).p_increase
        x, y = rng.normal(0, 300, nb), rng.normal(0, 300, nc)
        ex, ey = [100.0] * nb, [100.0] * nc
        for mode in stats_module.SPREADS:  # "current" is not symmetric: it floors one side
            forward = compare_rates(x, ex, y, ey, spread=mode)
            assert forward.p_decrease == compare_rates(y, ey, x, ex, spread=mode).p_increase


LEVEL_CASES = [(3, 3), (1, 3), (1, 8), (6, 1), (6, 2), (6, 4), (6, 8)]


@pytest.mark.calibration
@pytest.mark.parametrize(
    ("nb", "nc", "spread"),
    [(3, 3, "pooled"), (1, 8, "pooled"), (6, 2, "pooled"), (6, 2, "larger"), (1, 3, "larger")],
)
def test_level_pvalues_are_calibrated_under_no_change(nb: int, nc: int, spread: str) -> None:
    """P(p < alpha) must not exceed alpha, in either tail, when nothing changed (2% lognormal
    run-to-run noise), for the pooled test (heap peaks) and the larger-spread test (RSS
    peaks), at the looks the gate takes against a baseline of 6 runs (1, 2, 4, 8 current
    runs). Limit: FALSE_ALARM_LIMIT of TRIALS, see above; the lower tail of (1, 3) is the
    upper tail of (3, 1), and of (6, nc) that of (nc, 6).

    Welch's test, used here before, failed (6, 2) on three seeds (0.016-0.021 against the
    0.01525 limit; 0.019 over 2 million trials). Measured over 20000 trials at 0.01 (upper
    tail): pooled 0.0097-0.0104 in every case (it is exact), larger 0.005-0.006 at 6 vs 2..8.
    Each comparison costs about a millisecond, so the other looks are checked analytically
    below (``test_level_tests_are_calibrated_at_the_gates_own_levels``), on the same code.
    """
    rng = np.random.default_rng(100 + 10 * nb + nc)
    hits_up = hits_down = 0
    for trial in range(1, TRIALS + 1):
        base = 50 * MiB * np.exp(rng.normal(0, 0.02, nb))
        cur = 50 * MiB * np.exp(rng.normal(0, 0.02, nc))
        c = compare_levels(base, cur, spread=spread)
        hits_up += c.p_increase < ALPHA
        hits_down += c.p_decrease < ALPHA
        if trial == TRIALS // 2 and max(hits_up, hits_down) <= EARLY_PASS:
            break
    assert hits_up <= FALSE_ALARM_LIMIT, f"p_increase < {ALPHA} in {hits_up / TRIALS:.4f} of trials"
    assert hits_down <= FALSE_ALARM_LIMIT, f"p_decrease < {ALPHA} in {hits_down / TRIALS:.4f} of trials"


# The gate's per-test levels: one scenario (0.01 over 4 metrics x 4 looks) and 200 scenarios.
GATE_LEVELS = (ALPHA, ALPHA / 16, ALPHA / 16 / 200)


def _conditional_false_alarm_rate(
    nb: int, nc: int, spread: str, level: float, seed: int, noise_ratio: float = 1.0, draws: int = 200_000
) -> float:
    """P(p_increase < level) under no change, for Gaussian log peaks (sd 2%, the current
    side's ``noise_ratio`` times that), without sampling the tail.

    The difference of means is independent of the two sample variances, and the test's
    error and degrees of freedom depend on the variances alone (``level_spread``, which is
    what ``compare_levels`` calls: checked below). So, given the variances, the rate is a
    normal tail probability; averaging it over drawn variances leaves a Monte Carlo error
    of a few percent of the level even at 3e-6, where counting hits would need billions of
    comparisons.
    """
    rng = np.random.default_rng(seed)
    sd = 0.02
    var_b = sd**2 * rng.chisquare(nb - 1, draws) / (nb - 1) if nb > 1 else np.zeros(draws)
    var_c = (noise_ratio * sd) ** 2 * rng.chisquare(nc - 1, draws) / (nc - 1) if nc > 1 else np.zeros(draws)
    se, df = level_spread(var_b, nb, var_c, nc, spread, floor=0.001**2)
    critical = special.stdtrit(df, 1 - level) * se
    if spread == stats_module.LARGER and nc > 1:  # never below the current runs' own test
        own = np.sqrt(np.maximum(np.maximum(var_b, var_c), 0.001**2) / nc)
        critical = np.maximum(critical, special.stdtrit(nc - 1, 1 - level) * own)
    return float(np.mean(sps.norm.sf(critical / (sd * math.sqrt(1 / nb + noise_ratio**2 / nc)))))


def test_compare_levels_is_the_test_of_level_spread() -> None:
    """What the analytic calibration below relies on: compare_levels' p-values are the
    Student t tails of the error and degrees of freedom ``level_spread`` gives (for
    ``larger``, never below the current runs' own t-test: ``stats.level_p``)."""
    rng = np.random.default_rng(30)
    for spread in stats_module.SPREADS:
        for nb, nc in LEVEL_CASES:
            base = 50 * MiB * np.exp(rng.normal(0, 0.02, nb))
            cur = 50 * MiB * np.exp(rng.normal(0, 0.02, nc))
            lx, ly = np.log(base + 4096), np.log(cur + 4096)
            vx = float(np.var(lx, ddof=1)) if nb > 1 else 0.0
            vy = float(np.var(ly, ddof=1)) if nc > 1 else 0.0
            se, df = level_spread(vx, nb, vy, nc, spread, floor=1e-6)
            expected = sps.t.sf((ly.mean() - lx.mean()) / float(se), float(df))
            if spread == stats_module.LARGER and nc > 1:
                own = math.sqrt(max(vx, vy, 1e-6) / nc)
                expected = max(expected, sps.t.sf((ly.mean() - lx.mean()) / own, nc - 1))
            assert compare_levels(base, cur, spread=spread).p_increase == pytest.approx(expected, rel=1e-9)


@pytest.mark.calibration
@pytest.mark.parametrize("level", GATE_LEVELS)
@pytest.mark.parametrize("nc", [1, 2, 4, 8])
def test_level_tests_are_calibrated_at_the_gates_own_levels(nc: int, level: float) -> None:
    """6 baseline runs against the gate's looks, at 0.01 and at the per-test level of one
    scenario (6.25e-4) and of 200 (3.1e-6). Limit: 1.15x the level (the Monte Carlo error is about
    2-4%). Measured: pooled 1.00-1.04x; larger 0.3-1.0x (1.0 at nc=1, where it is the
    pooled test). Welch's test, the one used before, gives 1.9x, 3.1x and 3.4x at 6 vs 2, which
    this check must see, or it could not tell a liberal test from a calibrated one."""
    for spread in (stats_module.POOLED, stats_module.LARGER):
        rate = _conditional_false_alarm_rate(6, nc, spread, level, seed=nc)
        assert rate <= 1.15 * level, f"{spread}: {rate / level:.2f}x the level"
    if nc == 2:
        assert _conditional_false_alarm_rate(6, nc, stats_module.WELCH, level, seed=nc) > 1.6 * level


@pytest.mark.calibration
def test_larger_spread_limits_a_noisier_current_machine() -> None:
    """RSS peaks depend on the machine: the current side may be noisier than the baseline.
    With twice the noise at 6 vs 2 and the one-scenario level, Welch's test is 13x liberal,
    the pooled test 9x, the larger spread 4.9x (measured). Not calibrated (no test with two
    runs is, without knowing the ratio), which is why a single noisier run may not pass
    alone (``verdict``); asserted: the larger spread is the least liberal of the three."""
    level = GATE_LEVELS[1]
    rates = {
        spread: _conditional_false_alarm_rate(6, 2, spread, level, seed=5, noise_ratio=2.0)
        for spread in stats_module.SPREADS
    }
    assert rates[stats_module.LARGER] < 0.6 * min(rates[stats_module.POOLED], rates[stats_module.WELCH])


@pytest.mark.calibration
@pytest.mark.parametrize("nc", [2, 4, 8])
def test_larger_spread_keeps_its_level_however_noisy_the_current_machine(nc: int) -> None:
    """RSS peaks from a machine whose peaks are 1-30x as noisy as the baseline's, 6 baseline
    runs against the looks that can fail a scenario, at the gate's levels: at most 1.15x
    the level (Monte Carlo error a few percent). With the pooled degrees of freedom alone
    the larger spread ran at up to 9x the level at 2x the noise, 141x at 4x and 5,100x at
    30x (6 vs 2; 6 vs 4: 2x, 21x, 122x); never below the current runs' own test, at most
    1.0x (measured)."""
    worst = 0.0
    for level in GATE_LEVELS:
        for ratio in (1.0, 2.0, 4.0, 8.0, 30.0):
            rate = _conditional_false_alarm_rate(
                6, nc, stats_module.LARGER, level, seed=nc, noise_ratio=ratio, draws=100_000
            )
            worst = max(worst, rate / level)
    assert worst <= 1.15, f"{worst:.2f}x the level"


# With a single run on one side, the pooled test is Welch's here: every variance is at least
# the within-run error both sides share, so the pool is the larger variance, as in Welch's
# single-run rule, with the same degrees of freedom (identical hits, measured). Those cases
# run once.
RATE_CASES = [
    (nb, nc, spread, mode)
    for nb, nc in [(3, 3), (1, 8), (6, 1), (6, 2)]
    for spread in (300.0, 100.0)
    for mode in stats_module.RATE_SPREADS
    if not (mode != stats_module.WELCH and min(nb, nc) == 1)
]


@pytest.mark.calibration
@pytest.mark.parametrize(("nb", "nc", "spread", "mode"), RATE_CASES)
def test_rate_pvalues_are_calibrated_under_no_change(nb: int, nc: int, spread: float, mode: str) -> None:
    """Run-to-run spread larger than the within-run error (100 B/call), or no larger than
    it (each run's slope off by its own error only, as with a deterministic heap). Limit
    per tail: FALSE_ALARM_LIMIT of TRIALS; the lower tail of (1, 8) is the upper tail of
    (8, 1), and of (6, 1)/(6, 2) those of (1, 6)/(2, 6).

    Measured over 20000 trials at 0.01: 0.005-0.011 with spread 300, 0.0001-0.0014 with
    spread 100 (the larger of two estimates of the same error is conservative).
    """
    rng = np.random.default_rng(200 + 10 * nb + nc + int(spread))
    base_se, cur_se = [100.0] * nb, [100.0] * nc
    hits_up = hits_down = 0
    for trial in range(1, TRIALS + 1):
        base, cur = rng.normal(0, spread, nb), rng.normal(0, spread, nc)
        c = compare_rates(base, base_se, cur, cur_se, spread=mode)
        hits_up += c.p_increase < ALPHA
        hits_down += c.p_decrease < ALPHA
        if trial == TRIALS // 2 and max(hits_up, hits_down) <= EARLY_PASS:
            break
    assert hits_up <= FALSE_ALARM_LIMIT, f"p_increase < {ALPHA} in {hits_up / TRIALS:.4f} of trials"
    assert hits_down <= FALSE_ALARM_LIMIT, f"p_decrease < {ALPHA} in {hits_down / TRIALS:.4f} of trials"


@pytest.mark.calibration
def test_level_test_has_power_against_a_clear_shift() -> None:
    rng = np.random.default_rng(7)
    n, hits = 1000, 0
    for _ in range(n):
        base = 50 * MiB * np.exp(rng.normal(0, 0.01, 5))
        cur = 50 * MiB * np.exp(rng.normal(math.log(1.05), 0.01, 5))
        hits += compare_levels(base, cur).p_increase < ALPHA
    assert hits / n >= 0.95


# --- fit_slope --------------------------------------------------------------------------


def test_fit_slope_of_an_exact_line():
    fit = fit_slope([1000 + 512 * i for i in range(51)])
    assert fit.slope == pytest.approx(512)
    assert fit.low == pytest.approx(512)
    assert fit.high == pytest.approx(512)
    assert fit.se == pytest.approx(0, abs=1e-9)
    assert fit.trend_p < 1e-10
    assert fit.n == 51


def test_fit_slope_of_a_constant_series():
    fit = fit_slope([7] * 51)
    assert (fit.slope, fit.low, fit.high, fit.se, fit.trend_p) == (0.0, 0.0, 0.0, 0.0, 1.0)


@pytest.mark.parametrize("series", [[], [5], [5, 9]])
def test_fit_slope_of_too_short_a_series(series):
    fit = fit_slope(series)
    assert fit.slope == 0.0
    assert fit.se == math.inf
    assert fit.trend_p == 1.0
    assert fit.n == len(series)


def test_fit_slope_ignores_a_few_odd_points():
    y = np.array([1000 + 100 * i for i in range(51)], float)
    y[[7, 30]] += 1_000_000  # two calls that happened to resize a big dict
    fit = fit_slope(y)
    assert fit.slope == pytest.approx(100, rel=0.02)


def test_fit_slope_of_a_falling_series_has_no_upward_trend():
    fit = fit_slope([10_000 - 50 * i for i in range(51)])
    assert fit.slope == pytest.approx(-50)
    assert fit.trend_p > 0.99


@pytest.mark.calibration
def test_fit_slope_interval_covers_the_true_slope() -> None:
    """The within-run error that compare_rates relies on must be honest, not too narrow.

    Nominal coverage 95%; with 800 series the limit is the 0.1% quantile of
    Binomial(800, 0.95), 740 (0.925). An interval missing twice as often (90% coverage)
    passes it with probability ~1%. Measured: 763 of 800 (0.954).
    """
    rng = np.random.default_rng(11)
    n, covered = 800, 0
    for _ in range(n):
        y = 1e6 + 300 * np.arange(51) + rng.normal(0, 2000, 51)
        fit = fit_slope(y)
        covered += fit.low <= 300 <= fit.high
    assert covered >= sps.binom.ppf(0.001, n, 0.95)


def _inversion_distribution(n: int) -> np.ndarray:
    """P(k inversions) for a uniformly random ordering of n distinct values, k = 0..n(n-1)/2.

    The number of inversions is a sum of independent uniforms on 0..i-1, i = 1..n (one per
    element of the Lehmer code), so its distribution (Mahonian) is their convolution.
    """
    dist = np.ones(1)
    for size in range(1, n + 1):
        dist = np.convolve(dist, np.full(size, 1.0 / size))
    return dist


def _series_with_inversions(n: int, inversions: int) -> np.ndarray:
    """An ordering of 0..n-1 with exactly ``inversions`` pairs out of order (Lehmer code)."""
    remaining, series = list(range(n)), []
    for position in range(n):
        step = min(inversions, n - 1 - position)
        inversions -= step
        series.append(remaining.pop(step))
    return np.asarray(series, float)


def _inversions(series: np.ndarray) -> int:
    return int(np.sum(np.triu(np.subtract.outer(series, series) > 0, k=1)))


@pytest.mark.calibration
def test_trend_test_false_alarm_rate_is_computed_exactly_on_noise() -> None:
    """Without a trend, i.i.d. continuous noise puts its 51 values in every order with equal
    probability, and Mann-Kendall's p depends on the series only through its number of
    inversions (checked first, on noise, for fit_slope's trend_p too). The false-alarm rate
    is then not estimated but computed: the total probability of the inversion counts whose
    p is below the level. No sampling error, so the limit is the level itself, with 5% for
    scipy's normal approximation beyond 50 points (exact rates: 0.0505 at 0.05, 0.0098 at
    0.01, 0.00089 at 0.001). A doubled rate fails at every level.
    """
    n = 51
    rng = np.random.default_rng(12)
    for _ in range(10):
        y = 1e6 + rng.normal(0, 200, n)
        canonical = upward_trend_p(_series_with_inversions(n, _inversions(y)))
        assert upward_trend_p(y) == canonical
        assert fit_slope(y).trend_p == canonical
    dist = _inversion_distribution(n)
    pairs = n * (n - 1) // 2
    # p can fall below a level only for an upward tendency: fewer inversions than half the pairs.
    p = np.array([upward_trend_p(_series_with_inversions(n, k)) for k in range(pairs // 2 + 1)])
    assert np.all(np.diff(p) >= 0)  # more pairs out of order is never more evidence
    assert p[-1] >= 0.45
    for level in (0.05, ALPHA, 0.001):
        rate = float(dist[: len(p)][p < level].sum())
        assert rate <= 1.05 * level, f"p < {level} with probability {rate:.5f}"


def test_trend_test_finds_a_small_leak_in_pymalloc_jitter():
    rng = np.random.default_rng(13)
    for _ in range(50):
        y = 1e6 + 64 * np.arange(51) + rng.integers(-100, 101, 51)
        assert fit_slope(y).trend_p < 1e-6


# --- multiple scenarios -----------------------------------------------------------------


def test_bonferroni():
    assert bonferroni(0.01, 10) == pytest.approx(0.001)
    assert bonferroni(0.01, 0) == 0.01
    assert bonferroni(0.05, 1) == 0.05


def test_combine_pvalues():
    assert combine_pvalues([]) == 1.0
    assert combine_pvalues([0.3]) == 0.3
    assert combine_pvalues([1e-6, 1e-6, 1e-6]) < 1e-10
    assert combine_pvalues([0.5, 0.5, 0.5]) == pytest.approx(0.5)
    assert 0 <= combine_pvalues([0.0, 1.0, 1.0]) <= 1  # clipped, never NaN


def test_hodges_lehmann_is_the_median_pairwise_shift():
    assert hodges_lehmann([1, 2, 3], [11, 12, 13]) == 10
    # One wild value among three moves the shift estimate not at all.
    assert hodges_lehmann([1, 2, 3], [1, 2, 1000]) == 0


# --- properties -------------------------------------------------------------------------

peaks = st.lists(st.integers(min_value=0, max_value=2**40), min_size=1, max_size=8)
slopes = st.lists(
    st.floats(min_value=-1e7, max_value=1e7, allow_nan=False, allow_infinity=False), min_size=1, max_size=8
)
errors = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


@pytest.mark.calibration
@PROPERTY
@given(peaks, peaks)
def test_levels_never_give_nan_or_out_of_range_pvalues(base, cur):
    c = compare_levels(base, cur)
    _assert_valid_pvalues(c)
    if c.insufficient_data:
        return
    assert c.ratio > 0 and math.isfinite(c.ratio)
    assert math.isfinite(c.ratio_low) and math.isfinite(c.ratio_high)


@pytest.mark.calibration
@PROPERTY
@given(slopes, slopes, errors, errors)
def test_rates_never_give_nan_or_out_of_range_pvalues(base, cur, base_err, cur_err):
    c = compare_rates(base, [base_err] * len(base), cur, [cur_err] * len(cur))
    _assert_valid_pvalues(c)
    if c.insufficient_data:
        return
    assert math.isfinite(c.delta_low) and math.isfinite(c.delta_high)


@pytest.mark.calibration
@PROPERTY
@given(slopes, slopes, st.floats(min_value=0, max_value=1e6), st.floats(min_value=1, max_value=1e6))
def test_raising_current_rates_never_weakens_the_evidence_of_an_increase(base, cur, shift, extra):
    """Shifting every current slope up must not raise p_increase (nor lower p_decrease)."""
    err_b, err_c = [10.0] * len(base), [10.0] * len(cur)
    low = compare_rates(base, err_b, [v + shift for v in cur], err_c)
    high = compare_rates(base, err_b, [v + shift + extra for v in cur], err_c)
    assert high.p_increase <= low.p_increase + 1e-12
    assert high.p_decrease >= low.p_decrease - 1e-12
    assert high.delta >= low.delta


@pytest.mark.calibration
@PROPERTY
@given(peaks, st.floats(min_value=1.0, max_value=100.0))
def test_scaling_current_peaks_up_never_reads_as_a_decrease(base, factor):
    cur = [int(v * factor) for v in base]
    c = compare_levels(base, cur)
    _assert_valid_pvalues(c)
    assert c.ratio >= 1.0 - 1e-12 or c.insufficient_data
    assert c.p_decrease >= 0.5 - 1e-9


series = st.lists(
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False), max_size=80
)


@pytest.mark.calibration
@PROPERTY
@given(series)
def test_fit_slope_is_finite_and_ordered_on_any_finite_series(y):
    fit = fit_slope(y)
    assert math.isfinite(fit.slope)
    assert not math.isnan(fit.se) and fit.se >= 0
    assert 0.0 <= fit.trend_p <= 1.0
    if len(y) >= 3:
        assert math.isfinite(fit.se)


@pytest.mark.calibration
@PROPERTY
@given(
    st.lists(st.integers(min_value=0, max_value=2**32), min_size=3, max_size=60),
    st.integers(min_value=-(2**20), max_value=2**20),
    st.integers(min_value=-(2**30), max_value=2**30),
)
def test_fit_slope_follows_an_added_line(y, slope, offset):
    """Theil-Sen is regression-equivariant: adding a + b*i to the series adds b to the slope."""
    assume(len(set(y)) > 1)
    base = fit_slope(y)
    moved = fit_slope([v + offset + slope * i for i, v in enumerate(y)])
    tolerance = 1e-6 * (1 + abs(base.slope) + abs(slope))
    assert moved.slope == pytest.approx(base.slope + slope, abs=tolerance)


def test_theil_sen_is_scipys_slope_and_interval() -> None:
    """``slopes.theil_sen`` computes what ``scipy.stats.theilslopes`` does (median of
    pairwise slopes, Sen's interval with tie corrections), on floors with and without ties
    and on the jackknife's gapped indices."""
    from pytest_memgate.slopes import theil_sen, theil_sen_slope

    rng = np.random.default_rng(20261206)
    checked = 0
    for n in (3, 4, 5, 8, 13, 21, 34, 50, 81):
        for kind in ("float", "ties", "steps"):
            for _ in range(6):
                if kind == "float":
                    y = rng.normal(0, 1000, n) + 37.5 * np.arange(n)
                elif kind == "ties":
                    y = rng.integers(0, 4, n).astype(float) * 4096
                else:
                    y = np.floor(np.arange(n) / 3) * 1024 + rng.integers(0, 2, n) * 64
                x = np.arange(n, dtype=float)
                if n > 8:
                    x = np.delete(x, np.arange(n // 4, n // 2))  # a block left out
                    y = y[: len(x)]
                want = sps.theilslopes(y, x, alpha=0.95)
                got = theil_sen(y, x)
                assert got[0] == pytest.approx(want[0], abs=1e-9), (n, kind)
                assert got[1] == pytest.approx(want[2], abs=1e-9), (n, kind)
                assert got[2] == pytest.approx(want[3], abs=1e-9), (n, kind)
                assert theil_sen_slope(y, x) == pytest.approx(want[0], abs=1e-9)
                checked += 1
    assert checked == 9 * 3 * 6


@pytest.mark.parametrize("n", [3, 4, 7, 20, 33, 34, 50, 120, 200])
def test_the_trend_p_is_scipys_kendall_tau(n: int) -> None:
    """``slopes.upward_trend_p`` is ``scipy.stats.kendalltau(index, y, alternative="greater")``:
    exact without ties up to 33 points (and for near-perfect orders), the normal
    approximation with the tie correction otherwise."""
    rng = np.random.default_rng(n)
    series = [
        rng.normal(0, 1, n),
        rng.normal(0, 1, n) + 0.05 * np.arange(n),
        rng.normal(0, 1, n) - 0.05 * np.arange(n),
        rng.integers(0, 3, n).astype(float),
        np.floor(np.arange(n) / 4.0) * 4096,
        np.arange(n, dtype=float),
        np.arange(n, dtype=float)[::-1].copy(),
        np.r_[np.arange(n - 1, dtype=float), -1.0],  # one pair out of order
    ]
    for y in series:
        if np.all(y == y[0]):
            continue
        want = sps.kendalltau(np.arange(n, dtype=float), y, alternative="greater").pvalue
        assert upward_trend_p(y) == pytest.approx(want, rel=1e-9, abs=1e-300), (n, y[:5])
