"""Pure statistics on how a peak scales with payload size: the power law
``peak ≈ a·n^b`` fitted over every run of a ``sizes=[...]`` family, its prediction at a
production size, and the tests on its exponent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .stats import CONFIDENCE, _t_ppf, _t_sf


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
    half = _t_ppf(0.5 + CONFIDENCE / 2, df) * se
    return PowerFit(slope, slope - half, slope + half, se, df, log_a, mean_x, sxx, residual_var, n)


def predict_power_law(fit: PowerFit, size: float, *, offset: float = 4096.0) -> tuple[float, float]:
    """(point, upper 95% bound) of the peak at ``size``: an extrapolation, so the bound matters."""
    if not math.isfinite(fit.exponent) or fit.sxx <= 0:
        return math.nan, math.inf  # a degenerate fit knows nothing of the production peak
    x = math.log(size)
    point = fit.log_a + fit.exponent * x
    spread = math.sqrt(fit.residual_var * (1 / fit.points + (x - fit.mean_log_n) ** 2 / fit.sxx))
    upper = point + _t_ppf(0.5 + CONFIDENCE / 2, fit.df) * spread
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
