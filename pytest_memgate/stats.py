"""Pure statistics: sequences in, frozen results out. No I/O, no pytest.

Two comparisons drive every verdict:

* ``compare_levels`` (peaks): one value per run. Compared on a log scale, so the effect
  is a ratio. The effect is the Hodges-Lehmann shift (median of all pairwise
  differences), robust to one odd run; the evidence is a one-sided Welch t-test. Heap
  peaks are often identical from run to run, which would make a t-test degenerate, so
  every standard deviation is floored at a *resolution* (0.1% by default): differences
  far below it are not evidence, differences far above it are, and no p-value is ever
  NaN.
* ``compare_rates`` (growth per call): one slope per run, each with its own standard
  error from Theil-Sen. The uncertainty of the mean is the larger of the between-run
  spread and the within-run error, again floored at a resolution.

Multiple scenarios: ``bonferroni`` turns a session-wide false-alarm rate into a
per-scenario level, which can be applied as each scenario finishes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .findings import Comparison

CONFIDENCE = 0.95


@functools.cache
def scipy_stats() -> ModuleType:
    """``scipy.stats``, imported on first use (about 1.5 s): a plain pytest run, ``--help``
    and the ``memgate`` command without statistics never pay it. A gate session imports it
    before its first run (``GateSession.__post_init__``)."""
    from scipy import stats

    module: ModuleType = stats
    return module


@functools.cache
def _special() -> ModuleType:
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


@dataclass(frozen=True, slots=True)
class SlopeFit:
    """Robust straight-line fit of a floor series: bytes per call with an interval."""

    slope: float
    low: float
    high: float
    se: float
    trend_p: float  # Mann-Kendall (Kendall's tau), one-sided: evidence of an upward trend
    n: int


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
    return float(_special().stdtr(df, -t))


def _t_ppf(q: float, df: float) -> float:
    return float(_special().stdtrit(df, q))


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
    nothing (peak 0) compares without dividing by zero.
    """
    if len(baseline) < 1 or len(current) < 1 or len(baseline) + len(current) < 3:
        return _insufficient(baseline, current, offset)
    lx = _log_levels(baseline, offset)
    ly = _log_levels(current, offset)
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
    p: NDArray[np.float64] = _special().stdtr(df, -d / se)
    if spread == LARGER and n_y > 1:
        larger = np.maximum(np.maximum(np.asarray(var_x, float), np.asarray(var_y, float)), floor)
        own = _special().stdtr(float(n_y - 1), -d / np.sqrt(larger / n_y))
        p = np.maximum(p, own)
    return p


def unseen_level_p(
    baseline: Sequence[float], current: Sequence[float], *, resolution: float = 0.001, offset: float = 4096.0
) -> float:
    """How plausible it is that the current runs are odd runs of an unchanged scenario.

    A scenario whose peak takes discrete levels (one run in ten 8% higher: a resize or a
    collection at an unlucky moment) can show, by chance, current runs on a level its
    baseline never showed. A t-test cannot tell that from a change: with the spread
    floored at the resolution, two such runs are overwhelming evidence. When every current
    run sits more than ``UNSEEN_GAP`` pooled standard deviations (floored at the
    resolution) above every baseline run, they are on a level of their own, and the
    chance that ``k`` runs of an unchanged scenario all landed there is ``q**k``, with
    ``q = 1 / (n_baseline + 2)`` the rule-of-succession rate of a level the baseline never
    showed in ``n_baseline`` runs (1/8 for 6). Otherwise 0.0: the runs overlap or sit
    within the noise, and the t-test alone is the evidence. The bound assumes that odd
    levels occur in at most that share of runs.
    """
    if not len(baseline) or not len(current):
        return 0.0
    lx, ly = _log_levels(baseline, offset), _log_levels(current, offset)
    ss = float(np.sum((lx - lx.mean()) ** 2) + np.sum((ly - ly.mean()) ** 2))
    dof = len(lx) + len(ly) - 2
    sd = math.sqrt(max(ss / dof if dof > 0 else 0.0, resolution**2))
    if float(ly.min() - lx.max()) <= UNSEEN_GAP * sd:
        return 0.0
    return float((1.0 / (len(lx) + 2)) ** len(ly))


def compare_rates(
    baseline: Sequence[float],
    baseline_se: Sequence[float],
    current: Sequence[float],
    current_se: Sequence[float],
    *,
    resolution: float = 8.0,
    spread: str = WELCH,
) -> Comparison:
    """Compare per-run growth slopes (bytes per call), each known to within its own se.

    Each side's variance is the larger of its runs' spread and their own squared errors.
    ``spread`` is how the two are combined (see ``level_spread``): ``pooled`` (Student's
    test with ``n_x + n_y - 2`` degrees of freedom: without a change both sides come from
    the same process, so two current runs no longer leave a single degree of freedom),
    ``larger`` (the larger variance for both sides, the same degrees of freedom: never
    below the pooled error, and far less liberal when the current runs are noisier than
    the baseline's), ``current`` (pooled, but never below the current runs' own variance:
    as strict as ``larger`` against noisier current runs, without losing the power to see
    an improvement over a noisy baseline, such as a fixed leak), or ``welch``.
    """
    if len(baseline) < 1 or len(current) < 1 or len(baseline) + len(current) < 3:
        return _insufficient(baseline, current)
    x = np.asarray(baseline, float)
    y = np.asarray(current, float)

    def var_of(values: np.ndarray, errors: Sequence[float]) -> float:
        spread = float(np.var(values, ddof=1)) if len(values) > 1 else 0.0
        within = float(np.mean(np.square(errors))) if len(errors) else 0.0
        return max(spread, within, resolution**2)

    var_x, var_y = var_of(x, baseline_se), var_of(y, current_se)
    mean_diff = float(y.mean() - x.mean())
    if spread in (POOLED, LARGER, CURRENT):
        common = ((len(x) - 1) * var_x + (len(y) - 1) * var_y) / (len(x) + len(y) - 2)
        for var, n in ((var_x, len(x)), (var_y, len(y))):
            if n == 1 or spread == LARGER:  # a single run's own error has no weight in the
                common = max(common, var)  # pool; ``larger``: never below either side's
        if spread == CURRENT:
            common = max(common, var_y)
        df = float(len(x) + len(y) - 2)
        se = math.sqrt(common * (1 / len(x) + 1 / len(y)))
        p_inc = _t_sf(mean_diff / se, df)
    elif spread == WELCH:
        se, df, p_inc = _welch(mean_diff, var_x, len(x), var_y, len(y))
    else:
        raise ValueError(f"unknown spread {spread!r}")
    shift = hodges_lehmann(x, y)
    half = _t_ppf(0.5 + CONFIDENCE / 2, df) * se
    b, c = float(np.median(x)), float(np.median(y))
    ratio = c / b if b > 0 else math.inf if c > 0 else 1.0
    return Comparison(
        baseline=b,
        current=c,
        delta=shift,
        delta_low=shift - half,
        delta_high=shift + half,
        ratio=ratio,
        ratio_low=math.nan,
        ratio_high=math.nan,
        p_increase=p_inc,
        p_decrease=_t_sf(-mean_diff / se, df),
        n_baseline=len(x),
        n_current=len(y),
    )


def rate_above_p(
    current: Sequence[float],
    current_se: Sequence[float],
    limit: float,
    *,
    baseline: Sequence[float] = (),
    resolution: float = 8.0,
) -> float:
    """One-sided p that the current runs' growth per call is above ``limit`` (a budget).

    Runs are independent, so the spread of their slopes is an honest error whatever the
    autocorrelation within each run; a run's own slope error is not on strongly
    autocorrelated floors (it covered 75-80% of AR(0.9) slopes), and a trend test on the
    floor's points (Mann-Kendall) ignores it altogether: on flat AR(0.9) floors it read a
    flat scenario as over a 64 B/call budget in 12.7% of scenarios. So Student's t on the
    mean slope, with the spread of the slopes about their own side's mean (the baseline's
    runs, from the same scenario, add their degrees of freedom), never below the current
    runs' own mean squared error or ``resolution``: exact when the slopes' spread governs,
    conservative when the errors do. A single run with no baseline has only its own error
    (normal quantiles)."""
    y = np.asarray(current, float)
    x = np.asarray(baseline, float)
    if not len(y):
        return 1.0
    ss = float(np.sum((y - y.mean()) ** 2)) + (float(np.sum((x - x.mean()) ** 2)) if len(x) else 0.0)
    df = (len(y) - 1) + max(len(x) - 1, 0)
    within = float(np.mean(np.square(current_se))) if len(current_se) else 0.0
    spread = ss / df if df > 0 else 0.0
    var = max(spread, within, resolution**2)
    t = (float(y.mean()) - limit) / math.sqrt(var / len(y))
    if df == 0:
        return float(_special().ndtr(-t))
    return _t_sf(t, float(df))


def theil_sen_slope(y: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    """The Theil-Sen slope alone (median of pairwise slopes), for resampling."""
    return float(scipy_stats().theilslopes(y, x)[0])


def fit_slope(series: Sequence[float]) -> SlopeFit:
    """Theil-Sen slope of ``series`` against its index, with a Mann-Kendall trend test.

    Theil-Sen (median of pairwise slopes) ignores a few odd points, such as one call that
    happened to trigger a dict resize; its 95% interval gives the within-run error.
    """
    y = np.asarray(series, float)
    n = len(y)
    if n < 3:
        return SlopeFit(0.0, -math.inf, math.inf, math.inf, 1.0, n)
    x = np.arange(n, dtype=float)
    if np.all(y == y[0]):
        return SlopeFit(0.0, 0.0, 0.0, 0.0, 1.0, n)
    result = scipy_stats().theilslopes(y, x, alpha=CONFIDENCE)
    slope, low, high = float(result[0]), float(result[2]), float(result[3])
    se = (high - low) / (2 * float(scipy_stats().norm.ppf(0.5 + CONFIDENCE / 2)))
    return SlopeFit(slope, low, high, se, upward_trend_p(y), n)


def upward_trend_p(series: ArrayLike) -> float:
    """Mann-Kendall (Kendall's tau against the index), one-sided: evidence of an upward trend."""
    y = np.asarray(series, float)
    if len(y) < 3 or np.all(y == y[0]):
        return 1.0
    tau = scipy_stats().kendalltau(np.arange(len(y), dtype=float), y, alternative="greater")
    return float(tau.pvalue) if not math.isnan(tau.pvalue) else 1.0


def combine_pvalues(pvalues: Sequence[float]) -> float:
    """One p-value from independent runs' trend tests (Stouffer's method)."""
    values = [min(max(p, 1e-300), 1 - 1e-16) for p in pvalues]
    if not values:
        return 1.0
    if len(values) == 1:
        return values[0]
    return float(scipy_stats().combine_pvalues(values, method="stouffer").pvalue)


def bonferroni(alpha: float, tests: int) -> float:
    """Per-test level that keeps the chance of any false alarm among ``tests`` below alpha."""
    return alpha / max(tests, 1)


@dataclass(frozen=True, slots=True)
class PowerFit:
    """``peak ≈ exp(log_a) * n**exponent``, fitted on log-log axes over every run."""

    exponent: float
    low: float
    high: float
    se: float
    df: float
    log_a: float
    mean_log_n: float
    sxx: float  # sum of squared log-size deviations, for prediction intervals
    residual_var: float
    points: int


def fit_power_law(sizes: Sequence[float], peaks: Sequence[float], *, offset: float = 4096.0) -> PowerFit:
    """Least squares of log(peak) on log(size); the slope is how memory scales with input.

    ``offset`` bytes keep an empty peak finite. Residual variance is floored at a 0.1%
    resolution so identical repeated runs do not claim infinite precision.
    """
    x = np.log(np.asarray(sizes, float))
    y = np.log(np.asarray(peaks, float) + offset)
    n = len(x)
    if n < 3 or len(set(x.tolist())) < 2:
        return PowerFit(math.nan, -math.inf, math.inf, math.inf, 1.0, math.nan, math.nan, 0.0, math.inf, n)
    mean_x = float(x.mean())
    sxx = float(np.sum((x - mean_x) ** 2))
    slope = float(np.sum((x - mean_x) * (y - y.mean())) / sxx)
    log_a = float(y.mean() - slope * mean_x)
    residuals = y - (log_a + slope * x)
    df = float(n - 2)
    residual_var = max(float(np.sum(residuals**2)) / df, 0.001**2)
    se = math.sqrt(residual_var / sxx)
    half = float(scipy_stats().t.ppf(0.5 + CONFIDENCE / 2, df)) * se
    return PowerFit(slope, slope - half, slope + half, se, df, log_a, mean_x, sxx, residual_var, n)


def predict_power_law(fit: PowerFit, size: float, *, offset: float = 4096.0) -> tuple[float, float]:
    """(point, upper 95% bound) of the peak at ``size``: an extrapolation, so the bound matters."""
    if not math.isfinite(fit.exponent) or fit.sxx <= 0:
        return math.nan, math.inf  # a degenerate fit knows nothing of the production peak
    x = math.log(size)
    point = fit.log_a + fit.exponent * x
    spread = math.sqrt(fit.residual_var * (1 / fit.points + (x - fit.mean_log_n) ** 2 / fit.sxx))
    upper = point + float(scipy_stats().t.ppf(0.5 + CONFIDENCE / 2, fit.df)) * spread
    return max(math.exp(point) - offset, 0.0), max(math.exp(upper) - offset, 0.0)


def exponent_increase_p(old: PowerFit, new: PowerFit, *, margin: float = 0.0) -> float:
    """One-sided p that ``new.exponent - old.exponent > margin``.

    Student's t with one residual spread for both fits (their residual variances pooled,
    ``old.df + new.df`` degrees of freedom): both are heap peaks of the same scenario, which
    share a spread without a change, and the test is then exact. Each fit has only
    ``points - 2`` degrees of freedom (4 for 3 sizes x 2 runs), where a normal
    approximation ran at 2.4x its level at 0.01 and 6x at 0.001."""
    finite = all(math.isfinite(v) for v in (old.se, new.se, old.residual_var, new.residual_var))
    if not finite or old.sxx <= 0 or new.sxx <= 0:
        return 1.0
    df = old.df + new.df
    common = (old.df * old.residual_var + new.df * new.residual_var) / df
    se = math.sqrt(common * (1 / old.sxx + 1 / new.sxx))
    if se == 0:
        return 1.0
    return _t_sf((new.exponent - old.exponent - margin) / se, df)


def exponent_above_p(fit: PowerFit, limit: float) -> float:
    """One-sided p that the exponent is above ``limit`` (Student's t, the fit's own
    ``points - 2`` degrees of freedom): a ``max_exponent`` budget tested at the scenario's
    level rather than at the 2.5% its 95% interval's lower end would give."""
    if not (math.isfinite(fit.se) and fit.se > 0 and math.isfinite(fit.exponent)):
        return 1.0
    return _t_sf((fit.exponent - limit) / fit.se, fit.df)
