"""Pure statistics on growth per call: each run's floor series fitted to a slope
(``fit_slope``, Theil-Sen), and the tests on those slopes (``compare_rates`` against the
baseline's, ``rate_above_p`` against a budget). The level tests and the shared t
distribution are ``stats.py``'s.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .findings import Comparison
from .stats import (
    CONFIDENCE,
    CURRENT,
    LARGER,
    POOLED,
    WELCH,
    _insufficient,
    _t_ppf,
    _t_sf,
    _welch,
    hodges_lehmann,
    sample_variance,
    scipy_special,
)


@dataclass(frozen=True, slots=True)
class SlopeFit:
    """Robust straight-line fit of a floor series: bytes per call with an interval."""

    slope: float
    low: float
    high: float
    se: float
    trend_p: float  # Mann-Kendall (Kendall's tau), one-sided: evidence of an upward trend
    n: int


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
        spread = sample_variance(values)
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
        return float(scipy_special().ndtr(-t))
    return _t_sf(t, float(df))


def _pairwise_slopes(y: NDArray[np.float64], x: NDArray[np.float64]) -> NDArray[np.float64]:
    dx = x[:, np.newaxis] - x
    dy = y[:, np.newaxis] - y
    ahead = dx > 0
    slopes: NDArray[np.float64] = dy[ahead] / dx[ahead]
    return slopes


def _tie_term(values: NDArray[np.float64]) -> float:
    """Sum of k(k-1)(2k+5) over the sizes k of the groups of equal values (Sen 1968, 2.6)."""
    _, counts = np.unique(values, return_counts=True)
    k = counts[counts > 1].astype(np.int64)
    return float(np.sum(k * (k - 1) * (2 * k + 5)))


@functools.cache
def _z(confidence: float) -> float:
    return float(scipy_special().ndtri(0.5 + confidence / 2))


def theil_sen(
    y: NDArray[np.float64], x: NDArray[np.float64], confidence: float = CONFIDENCE
) -> tuple[float, float, float]:
    """(slope, low, high): the median of pairwise slopes and Sen's (1968) interval, as
    ``scipy.stats.theilslopes`` computes them (``tests/unit/test_stats.py`` checks that),
    without its per-call input checks: every run's floor is fitted, and the calibration
    simulations fit millions, where scipy's wrapper and its normal quantile cost more than
    the fit."""
    slopes = np.sort(_pairwise_slopes(y, x))
    if not slopes.size:
        return math.nan, math.nan, math.nan
    slope = float(np.median(slopes))
    n, pairs = len(y), len(slopes)
    spread = (n * (n - 1) * (2 * n + 5) - _tie_term(x) - _tie_term(y)) / 18.0
    if not spread >= 0:
        return slope, math.nan, math.nan
    half = _z(confidence) * math.sqrt(spread)
    upper = min(int(np.round((pairs + half) / 2.0)), pairs - 1)
    lower = max(int(np.round((pairs - half) / 2.0)) - 1, 0)
    return slope, float(slopes[lower]), float(slopes[upper])


def theil_sen_slope(y: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    """The Theil-Sen slope alone (median of pairwise slopes), for resampling."""
    return float(np.median(_pairwise_slopes(y, x)))


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
    slope, low, high = theil_sen(y, x)
    se = (high - low) / (2 * _z(CONFIDENCE))
    return SlopeFit(slope, low, high, se, upward_trend_p(y), n)


def upward_trend_p(series: ArrayLike) -> float:
    """Mann-Kendall (Kendall's tau against the index), one-sided: evidence of an upward trend."""
    y = np.asarray(series, float)
    if len(y) < 3 or np.all(y == y[0]):
        return 1.0
    n = len(y)
    later = np.triu(np.sign(y[np.newaxis, :] - y[:, np.newaxis]), 1)  # pairs i < j
    concordant, discordant = int(np.sum(later > 0)), int(np.sum(later < 0))
    pairs = n * (n - 1) // 2
    ties = _tie_term(y)  # 0 exactly when no two readings are equal
    if ties == 0 and (n <= 33 or min(discordant, pairs - discordant) <= 1):
        return _kendall_exact_greater(n, pairs - discordant)
    # The normal approximation with the tie correction, as scipy.stats.kendalltau's
    variance = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    return float(scipy_special().ndtr(-(concordant - discordant) / math.sqrt(variance)))


def _kendall_exact_greater(n: int, concordant: int) -> float:
    """Exact one-sided p of ``concordant`` pairs among ``n`` untied points in order
    (Kendall 1970, as scipy's ``_kendall_p_exact``): the Mahonian count of permutations with
    at most as many inversions, from the nearer tail."""
    pairs = n * (n - 1) // 2
    in_right_tail = concordant >= pairs - concordant
    c = min(concordant, pairs - concordant)
    if n <= 2:
        prob, mass = 1.0, (1.0 if n == 1 else 0.5)
    elif c == 0:
        prob = 2.0 / math.factorial(n) if n < 171 else 0.0
        mass = prob / 2
    elif c == 1:
        prob = 2.0 / math.factorial(n - 1) if n < 172 else 0.0
        mass = (n - 1) / math.factorial(n) if n < 171 else 0.0
    else:
        counts = np.zeros(c + 1)
        counts[0:2] = 1.0
        for j in range(3, n + 1):
            counts = np.cumsum(counts) / j
            if j <= c:
                counts[j:] -= counts[: c + 1 - j]
        prob, mass = float(np.sum(counts)), float(counts[-1]) / 2
    prob = prob / 2 if in_right_tail else 1 - prob / 2 + mass
    return float(min(max(prob, 0.0), 1.0))
