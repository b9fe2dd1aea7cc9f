"""Pure statistics: sequences in, frozen results out. No I/O, no pytest.

Two comparisons drive every verdict:

* ``compare_levels`` (peaks): one value per run. Compared on a log scale, so the effect
  is a ratio. The effect is the Hodges-Lehmann shift (median of all pairwise
  differences), robust to one odd run; the evidence is a one-sided t-test whose spread
  suits the figure (``level_spread``: pooled for heap peaks, the larger for RSS), without a
  side's highest run when it sits far above the others (``odd_run``). Heap
  peaks are often identical from run to run, which would make a t-test degenerate, so
  every standard deviation is floored at a *resolution* (0.1% by default): differences
  far below it are not evidence, differences far above it are, and no p-value is ever
  NaN.
* ``compare_rates`` (growth per call, in ``slopes.py``): one slope per run, each with its own standard
  error from Theil-Sen. The uncertainty of the mean is the larger of the between-run
  spread and the within-run error, again floored at a resolution.

Multiple scenarios: ``bonferroni`` turns a session-wide false-alarm rate into a
per-scenario level, which can be applied as each scenario finishes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from types import ModuleType
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .findings import Comparison

CONFIDENCE = 0.95


@functools.cache
def scipy_special() -> ModuleType:
    """``scipy.special`` (the t and normal distributions every test here needs), imported on
    first use (about 0.4 s; ``scipy.stats`` would be 0.85 s): a plain pytest run, ``--help``
    and the ``memgate`` command without statistics never pay it. A gate session imports it
    before its first run (``SessionPlan.__post_init__``)."""
    from scipy import special

    module: ModuleType = special
    return module


# How a level comparison estimates the spread of its difference (see ``level_spread``).
POOLED = "pooled"
LARGER = "larger"
WELCH = "welch"
SPREADS = (POOLED, LARGER, WELCH)
CURRENT = "current"  # rates only: pooled, but never below the current runs' own spread
RATE_SPREADS = (POOLED, LARGER, CURRENT, WELCH)
# Current runs this many standard deviations above every baseline run sit on a level of
# their own (see ``unseen_level``).
UNSEEN_GAP = 6.0
# A side's highest run this many standard deviations of its other runs above all of them,
# among at least ``ODD_RUNS_FROM`` runs, is an odd run (see ``odd_run``).
ODD_GAP = 16.0
ODD_RUNS_FROM = 6


def _insufficient(
    baseline: Sequence[float], current: Sequence[float], offset: float | None = None
) -> Comparison:
    """No test is possible; with ``offset`` (levels) the point ratio is still reported."""
    b = float(np.median(baseline)) if len(baseline) else math.nan
    c = float(np.median(current)) if len(current) else math.nan
    ratio = (c + offset) / (b + offset) if offset is not None and b + offset > 0 else math.nan
    return Comparison(
        b,
        c,
        c - b,
        -math.inf,
        math.inf,
        ratio,
        0.0,
        math.inf,
        1.0,
        1.0,
        len(baseline),
        len(current),
        insufficient_data=True,
    )


def hodges_lehmann(x: ArrayLike, y: ArrayLike) -> float:
    """Median of all pairwise differences ``y_j - x_i``: a shift estimate robust to outliers."""
    diffs = np.subtract.outer(np.asarray(y, float), np.asarray(x, float))
    return float(np.median(diffs))


def _welch(mean_diff: float, var_x: float, n_x: int, var_y: float, n_y: int) -> tuple[float, float, float]:
    """(standard error, degrees of freedom, one-sided p for an increase) of a Welch test.

    A side with a single run has no spread of its own to estimate: it is given the other
    side's variance (if larger), and the other side's ``n - 1`` are the only degrees of
    freedom there are. Treating it as exact would understate the error and raise false alarms.
    """
    if n_x == 1:
        var_x = max(var_x, var_y)
    if n_y == 1:
        var_y = max(var_y, var_x)
    vx, vy = var_x / n_x, var_y / n_y
    se = math.sqrt(vx + vy)
    denom = (vx**2) / max(n_x - 1, 1) + (vy**2) / max(n_y - 1, 1)
    df = (vx + vy) ** 2 / denom if denom > 0 else float(n_x + n_y - 2)
    if min(n_x, n_y) == 1:
        df = float(max(n_x, n_y) - 1)
    df = max(df, 1.0)
    p = _t_sf(mean_diff / se, df)
    return se, df, p


def _t_sf(t: float, df: float) -> float:
    """Student t survival function (``scipy.stats.t.sf`` is ``special.stdtr(df, -t)``)."""
    return float(scipy_special().stdtr(df, -t))


def _t_ppf(q: float, df: float) -> float:
    return float(scipy_special().stdtrit(df, q))


def level_spread(
    var_x: ArrayLike, n_x: int, var_y: ArrayLike, n_y: int, spread: str = POOLED, floor: float = 0.0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(standard error of the difference of means, degrees of freedom); vectorised.

    ``var_x``/``var_y`` are the sample variances (ddof=1; 0 for a single run), ``floor``
    the smallest variance a measurement can resolve.

    * ``pooled``: Student's test, one spread for both sides with ``n_x + n_y - 2`` degrees
      of freedom. Exact when both sides share a spread (the same process, unchanged), at
      every look the gate takes, including 6 baseline runs against 1 or 2 and the tiny
      per-test levels of large suites. A single run adds no degree of freedom and no weight.
    * ``larger``: the larger of the two variances for both sides, with the pooled degrees
      of freedom. It is never below the pooled variance, so when the spreads are equal it
      is conservative (about half the nominal rate at 6 vs 2..8); when the current side is
      noisier it is never below Welch's error either, and much less liberal than the
      pooled test there. For figures that depend on the machine (RSS).
    * ``welch``: Welch-Satterthwaite. Liberal with two runs on one side (1.9x nominal at
      0.01 for 6 vs 2, 3.4x at 0.01/3200): kept for ``compare_rates`` only.
    """
    vx = np.maximum(np.asarray(var_x, float), floor)
    vy = np.maximum(np.asarray(var_y, float), floor)
    if n_x + n_y <= 2:
        raise ValueError("a comparison needs three runs in all")
    if spread == POOLED:
        common = ((n_x - 1) * vx + (n_y - 1) * vy) / (n_x + n_y - 2)
        common = np.maximum(common, floor)
        return np.sqrt(common * (1 / n_x + 1 / n_y)), np.full(np.shape(common), float(n_x + n_y - 2))
    if spread == LARGER:
        larger = np.maximum(vx if n_x > 1 else floor, vy if n_y > 1 else floor)
        return np.sqrt(larger * (1 / n_x + 1 / n_y)), np.full(np.shape(larger), float(n_x + n_y - 2))
    if spread != WELCH:
        raise ValueError(f"unknown spread {spread!r}")
    if n_x == 1:
        vx = np.maximum(vx, vy)
    if n_y == 1:
        vy = np.maximum(vy, vx)
    a, b = vx / n_x, vy / n_y
    denom = a**2 / max(n_x - 1, 1) + b**2 / max(n_y - 1, 1)
    df = np.where(denom > 0, (a + b) ** 2 / np.where(denom > 0, denom, 1.0), float(n_x + n_y - 2))
    if min(n_x, n_y) == 1:
        df = np.full(np.shape(df), float(max(n_x, n_y) - 1))
    return np.sqrt(a + b), np.maximum(df, 1.0)


def sample_variance(values: NDArray[np.float64]) -> float:
    """Sample variance (ddof=1), 0 for a single run: a single run adds no spread."""
    return float(np.var(values, ddof=1)) if len(values) > 1 else 0.0


def _log_levels(values: Sequence[float], offset: float) -> NDArray[np.float64]:
    # A level below zero (RSS that fell under its starting point) is no growth at all.
    logs: NDArray[np.float64] = np.log(np.maximum(np.asarray(values, float), 0.0) + offset)
    return logs


def odd_run(logs: NDArray[np.float64], resolution: float) -> bool:
    """Whether the highest of ``logs`` (at least ``ODD_RUNS_FROM`` runs) sits on an odd level
    of its own, more than ``ODD_GAP`` standard deviations of the other runs (floored at
    ``resolution``) above all of them.

    One run in ten peaking 8% higher (a resize, a collection at an unlucky moment) is a
    discrete level, not noise: counted in the baseline's spread, one such run widens the
    t-test's error fivefold and hides real +5% and +7% peaks, while the Hodges-Lehmann
    effect stays put. Left out of the spread, the odd run still counts where it belongs: in
    how often runs leave the main level (``unseen_level``). The gap is wide and the runs
    many because the spread of five Gaussian runs is itself uncertain: such a gap appears
    in 0.03% of 6 Gaussian runs (2.5e-6 of 8), so the t-test keeps its level where peaks
    vary smoothly."""
    if len(logs) < ODD_RUNS_FROM:
        return False
    ordered = np.sort(logs)
    rest = ordered[:-1]
    sd = math.sqrt(max(float(np.var(rest, ddof=1)), resolution**2))
    return float(ordered[-1] - rest[-1]) > ODD_GAP * sd


def main_level(logs: NDArray[np.float64], resolution: float) -> NDArray[np.float64]:
    """``logs`` without an odd highest run (``odd_run``), sorted."""
    ordered: NDArray[np.float64] = np.sort(logs)
    return ordered[:-1] if odd_run(logs, resolution) else ordered


def compare_levels(
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    resolution: float = 0.001,
    offset: float = 4096.0,
    spread: str = POOLED,
) -> Comparison:
    """Compare per-run peaks on a log scale; ``resolution`` is the relative sd floor.

    ``spread`` is how the error of the difference is estimated (``level_spread``).
    ``offset`` bytes are added before the logarithm so that a scenario that allocates
    nothing (peak 0) compares without dividing by zero. Each side's odd highest run
    (``odd_run``) is left out of the test and the effect; ``unseen_level`` counts it.
    """
    if len(baseline) < 1 or len(current) < 1 or len(baseline) + len(current) < 3:
        return _insufficient(baseline, current, offset)
    lx = main_level(_log_levels(baseline, offset), resolution)
    ly = main_level(_log_levels(current, offset), resolution)
    var_x, var_y = sample_variance(lx), sample_variance(ly)
    se_a, df_a = level_spread(var_x, len(lx), var_y, len(ly), spread, floor=resolution**2)
    se, df = float(se_a), float(df_a)
    mean_diff = float(ly.mean() - lx.mean())
    p_up = level_p(mean_diff, var_x, len(lx), var_y, len(ly), spread, floor=resolution**2)
    p_down = level_p(-mean_diff, var_x, len(lx), var_y, len(ly), spread, floor=resolution**2)
    shift = hodges_lehmann(lx, ly)
    half = _t_ppf(0.5 + CONFIDENCE / 2, df) * se
    b = float(np.median(baseline))
    c = float(np.median(current))
    base_level = math.exp(float(np.median(lx)))
    ratio, low, high = math.exp(shift), math.exp(shift - half), math.exp(shift + half)
    return Comparison(
        baseline=b,
        current=c,
        delta=base_level * (ratio - 1),
        delta_low=base_level * (low - 1),
        delta_high=base_level * (high - 1),
        ratio=ratio,
        ratio_low=low,
        ratio_high=high,
        p_increase=float(p_up),
        p_decrease=float(p_down),
        n_baseline=len(baseline),
        n_current=len(current),
    )


def level_p(
    diff: ArrayLike,
    var_x: ArrayLike,
    n_x: int,
    var_y: ArrayLike,
    n_y: int,
    spread: str = POOLED,
    floor: float = 0.0,
) -> NDArray[np.float64]:
    """One-sided p of a difference of mean log levels ``diff`` (current minus baseline);
    vectorised, the test ``compare_levels`` makes.

    The t tail of ``level_spread``'s error and degrees of freedom, and for ``larger`` with
    two or more current runs never below the current runs' own t-test (the larger variance
    over ``n_y``, ``n_y - 1`` degrees of freedom). The pooled degrees of freedom alone
    trusted two runs' variance as if it had six more degrees of freedom: from a machine
    whose peaks are 4x as noisy, 6 vs 2 at 6.25e-4 ran at 60x the level, and without a
    bound as the noise grows. The current runs' own test is conservative however noisy
    they are, the pooled one when they are not; the larger of the two p-values keeps the
    level at every noise ratio."""
    d = np.asarray(diff, float)
    se, df = level_spread(var_x, n_x, var_y, n_y, spread, floor=floor)
    p: NDArray[np.float64] = scipy_special().stdtr(df, -d / se)
    if spread == LARGER and n_y > 1:
        larger = np.maximum(np.maximum(np.asarray(var_x, float), np.asarray(var_y, float)), floor)
        own = scipy_special().stdtr(float(n_y - 1), -d / np.sqrt(larger / n_y))
        p = np.maximum(p, own)
    return p


class UnseenLevel(NamedTuple):
    """Current runs above the baseline's main level (``unseen_level``)."""

    p: float  # how plausibly odd runs of an unchanged scenario explain them (0.0: none above)
    seen: int  # baseline runs as high as they are
    baseline: int  # baseline runs in all
    high: int = 0  # current runs above the main level
    current: int = 0  # current runs in all
    main_p: float = 1.0  # one-sided p of the current runs below against the main level (small: it moved)


def odd_share_p(seen: int, baseline: int, current: int, high: int | None = None) -> float:
    """The most likely it can be, whatever share ``q`` of runs a second level takes, that
    ``baseline`` runs showed it at most ``seen`` times and at least ``high`` (default: all)
    of the next ``current`` runs sat on it: the maximum over ``q`` of
    ``P(Binomial(baseline, q) <= seen) * P(Binomial(current, q) >= high)``.

    A scenario whose peak is on a second level in a third of its runs records a baseline
    without it in 9% of sessions; a rule that assumed such levels come in at most 1 of
    ``baseline + 2`` runs took three current runs on it for proof (0.2% where the truth is
    3.7%), and false alarms of two-level peaks ran at 2-3x one scenario's budget at 10 and
    200 scenarios. This bound holds for every share. Both factors are log-concave in ``q``
    (Beta distribution functions), so a golden-section search finds the one maximum."""
    high = current if high is None else high
    if high <= 0 or seen >= baseline:
        return 1.0
    if seen <= 0 and high == current:
        # closed form: the maximum sits at q = current / (baseline + current)
        total = baseline + current
        return math.exp(baseline * math.log(baseline / total) + current * math.log(current / total))
    special = scipy_special()

    def log_f(q: float) -> float:
        f = float(special.bdtr(seen, baseline, q)) * float(special.bdtrc(high - 1, current, q))
        return math.log(max(f, 1e-300))

    low, top = 1e-12, 1.0 - 1e-12
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = top - ratio * (top - low), low + ratio * (top - low)
    fa, fb = log_f(a), log_f(b)
    for _ in range(80):
        if fa < fb:
            low, a, fa = a, b, fb
            b = low + ratio * (top - low)
            fb = log_f(b)
        else:
            top, b, fb = b, a, fa
            a = top - ratio * (top - low)
            fa = log_f(a)
    return min(1.0, math.exp(max(fa, fb)))


def odd_runs_needed(seen: int, baseline: int, budget: float, most: int = 1000) -> int:
    """Current runs that, all on a level ``baseline`` runs showed ``seen`` times, bring
    ``odd_share_p`` to ``budget`` (``most + 1`` when more than ``most`` would be needed).
    With 6 baseline runs and a level never shown: 4 runs for one scenario at 0.01, 6 for
    10 scenarios, 12 for 200."""
    for current in range(1, most + 1):
        if odd_share_p(seen, baseline, current) <= budget:
            return current
    return most + 1


def _pooled_sd(groups: Sequence[NDArray[np.float64]], resolution: float) -> float:
    """The spread of runs around their own group's mean, floored at ``resolution``."""
    ss = sum(float(np.sum((g - g.mean()) ** 2)) for g in groups if len(g))
    dof = sum(len(g) for g in groups) - sum(1 for g in groups if len(g))
    return math.sqrt(max(ss / dof if dof > 0 else 0.0, resolution**2))


def _split_off(
    ordered: NDArray[np.float64], lx: NDArray[np.float64], resolution: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """(above, below, spread): the most of the sorted current runs that form a level of their own,
    more than ``UNSEEN_GAP`` spreads (of each level's runs) above both the baseline's main
    level and the current runs below them; (none, all) when no top segment does. Runs that
    scatter smoothly upward (a noisier machine, a real shift) leave no such gap."""
    for i in range(1, len(ordered)):
        above, below = ordered[i:], ordered[:i]
        sd = _pooled_sd([lx, above, below], resolution)
        if float(above[0]) - UNSEEN_GAP * sd > max(float(lx.max()), float(below[-1])):
            return above, below, sd
    return ordered[:0], ordered, 0.0


def unseen_level(
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    resolution: float = 0.001,
    offset: float = 4096.0,
    spread: str = POOLED,
) -> UnseenLevel:
    """How plausible it is that the current runs above the baseline's main level are odd
    runs of an unchanged scenario.

    A scenario whose peak takes discrete levels (a resize, a collection at an unlucky
    moment) can show, by chance, current runs off the level its baseline's runs sit on. A
    t-test cannot tell that from a change: with the spread floored at the resolution, two
    such runs are overwhelming evidence, and seven of eight as much. Current runs more than
    ``UNSEEN_GAP`` standard deviations (of both sides' main levels, ``main_level``, or of
    each level's runs when only some current runs are up there, a level of their own above
    the others too; floored at the resolution) above every run of the baseline's main
    level are above it: when ``j`` of
    ``k`` are, and the baseline showed their level (runs not that far below the lowest of
    them) only ``m`` of ``n`` times, the chance is at most ``odd_share_p(m, n, k, j)``,
    whatever share of runs the level takes: ``m`` is 0 for a level the baseline never
    showed, 1 for its odd run's. ``p`` is 0.0 when no current run is above.

    When some current runs stay below, ``main_p`` is the one-sided t-test (``level_p``) of
    those runs against the baseline's main level: a main level that moved too is a change
    whatever the runs above it are.
    """
    if not len(baseline) or not len(current):
        return UnseenLevel(0.0, 0, len(baseline), 0, len(current))
    everything, ly = _log_levels(baseline, offset), _log_levels(current, offset)
    lx = main_level(everything, resolution)
    top = float(lx.max())
    sd = _pooled_sd([lx, main_level(ly, resolution)], resolution)
    if float(ly.min()) - UNSEEN_GAP * sd > top:
        above, below = ly, ly[:0]
    else:
        above, below, sd = _split_off(np.sort(ly), lx, resolution)
    if not len(above):
        return UnseenLevel(0.0, 0, len(everything), 0, len(ly))
    seen = int(np.count_nonzero(everything > float(above.min()) - UNSEEN_GAP * sd))
    p = odd_share_p(seen, len(everything), len(ly), len(above))
    main_p = 1.0
    if len(below) and len(lx) + len(below) > 2:
        diff = float(below.mean() - lx.mean())
        var_x, var_y = sample_variance(lx), sample_variance(below)
        main_p = float(level_p(diff, var_x, len(lx), var_y, len(below), spread, floor=resolution**2))
    return UnseenLevel(p, seen, len(everything), len(above), len(ly), main_p)


def combine_pvalues(pvalues: Sequence[float]) -> float:
    """One p-value from independent runs' trend tests (Stouffer's method)."""
    values = [min(max(p, 1e-300), 1 - 1e-16) for p in pvalues]
    if not values:
        return 1.0
    if len(values) == 1:
        return values[0]
    z = -scipy_special().ndtri(np.asarray(values))  # each run's evidence as a normal score
    return float(scipy_special().ndtr(-float(np.sum(z)) / math.sqrt(len(values))))


def bonferroni(alpha: float, tests: int) -> float:
    """Per-test level that keeps the chance of any false alarm among ``tests`` below alpha."""
    return alpha / max(tests, 1)
