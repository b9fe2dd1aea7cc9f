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
# their own (see ``unseen_level_p``).
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
    how often runs leave the main level (``unseen_level_p``). The gap is wide and the runs
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
    (``odd_run``) is left out of the test and the effect; ``unseen_level_p`` counts it.
    """
    if len(baseline) < 1 or len(current) < 1 or len(baseline) + len(current) < 3:
        return _insufficient(baseline, current, offset)
    lx = main_level(_log_levels(baseline, offset), resolution)
    ly = main_level(_log_levels(current, offset), resolution)
    var_x = float(np.var(lx, ddof=1)) if len(lx) > 1 else 0.0
    var_y = float(np.var(ly, ddof=1)) if len(ly) > 1 else 0.0
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


def unseen_level_p(
    baseline: Sequence[float], current: Sequence[float], *, resolution: float = 0.001, offset: float = 4096.0
) -> float:
    """How plausible it is that the current runs are odd runs of an unchanged scenario.

    A scenario whose peak takes discrete levels (one run in ten 8% higher: a resize or a
    collection at an unlucky moment) can show, by chance, current runs off the level its
    baseline's runs sit on. A t-test cannot tell that from a change: with the spread
    floored at the resolution, two such runs are overwhelming evidence. When every current
    run sits more than ``UNSEEN_GAP`` pooled standard deviations (of both sides' main
    levels, ``main_level``, floored at the resolution) above the baseline's main level, the
    chance that ``k`` runs of an unchanged scenario all landed up there is ``q**k``, with
    ``q = (m + 1) / (n_baseline + 2)`` the rule-of-succession rate of runs that high, ``m``
    the baseline runs not that far below every current run: none for a level the baseline
    never showed (1/8 for 6 runs), its odd run for current runs on or under that run's level
    (2/8). Otherwise 0.0: some current run sits on the main level, and the t-test alone is
    the evidence. The bound assumes that runs leave the main level that high in at most
    that share of runs.
    """
    if not len(baseline) or not len(current):
        return 0.0
    everything, ly = _log_levels(baseline, offset), _log_levels(current, offset)
    lx, main_y = main_level(everything, resolution), main_level(ly, resolution)
    ss = float(np.sum((lx - lx.mean()) ** 2) + np.sum((main_y - main_y.mean()) ** 2))
    dof = len(lx) + len(main_y) - 2
    sd = math.sqrt(max(ss / dof if dof > 0 else 0.0, resolution**2))
    low = float(ly.min()) - UNSEEN_GAP * sd
    if low <= float(lx.max()):
        return 0.0
    seen = int(np.count_nonzero(everything > low))
    return float(((seen + 1.0) / (len(everything) + 2)) ** len(ly))


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
