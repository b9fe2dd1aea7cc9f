"""How the peak scales with payload size: power-law fit, extrapolation, exponent test.

Every simulation draws ``peak + OFFSET = a * n**b * exp(e)`` with ``e ~ N(0, sigma)``.
``fit_power_law`` regresses ``log(peak + 4096)`` on ``log(n)``, so this is exactly the model
it assumes and each interval has a known nominal coverage. Rates measured over replicates
are checked against the central 99.9% binomial interval of the replicate count at the
nominal rate (``_band``): a correct implementation lands outside it with probability about
0.1%, and the seeds are fixed, so a failure is a real change, not bad luck.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats as sps

from pytest_memgate.powerlaw import PowerFit, exponent_increase_p, fit_power_law, predict_power_law

OFFSET = 4096.0  # the bytes fit_power_law and predict_power_law add before the logarithm
SIZES = (1_000, 2_000, 4_000, 8_000, 16_000)
PRODUCTION = 1_000_000  # 62x beyond the largest fitted size: a genuine extrapolation


def _scale(b: float) -> float:
    """``a`` such that the smallest size has ``peak + OFFSET = 3 * OFFSET``.

    Peaks at the small sizes are then comparable to the offset, so a fit that forgot to add
    it (or added it twice) would bend the log-log line and miss the exponent.
    """
    return 3 * OFFSET / SIZES[0] ** b


def _sample(
    rng: np.random.Generator | None, b: float, runs: int = 1, sigma: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """(sizes, peaks) for ``runs`` runs at each of SIZES, with lognormal noise of ``sigma``."""
    n = np.repeat(np.asarray(SIZES, float), runs)
    noise = rng.normal(0.0, sigma, n.size) if rng is not None and sigma else np.zeros(n.size)
    return n, _scale(b) * n**b * np.exp(noise) - OFFSET


def _true_peak(b: float, size: float) -> float:
    """The median peak at ``size``: what a fit of the log-log line estimates."""
    return _scale(b) * size**b - OFFSET


def _band(replicates: int, rate: float) -> tuple[float, float]:
    """Central 99.9% binomial interval of an observed rate whose true value is ``rate``."""
    low, high = sps.binom.interval(0.999, replicates, rate)
    return float(low) / replicates, float(high) / replicates


# --- fit_power_law -----------------------------------------------------------------------


@pytest.mark.parametrize("b", [0.5, 1.0, 2.0])
def test_exact_power_law_recovers_the_exponent(b: float) -> None:
    """No noise: the exponent and the scale are exact to rounding, and the interval, which
    only the 0.1% residual floor keeps open, is narrow and contains the truth."""
    fit = fit_power_law(*_sample(None, b))
    assert fit.exponent == pytest.approx(b, abs=1e-9)
    assert math.exp(fit.log_a) == pytest.approx(_scale(b), rel=1e-8)
    assert fit.low < b < fit.high
    assert fit.high - fit.low < 0.01
    assert (fit.points, fit.df) == (len(SIZES), len(SIZES) - 2)


@pytest.mark.parametrize("b", [0.5, 1.0, 2.0])
def test_exact_power_law_extrapolates_exactly(b: float) -> None:
    """The point prediction is the true peak (offset removed again); the upper bound is above
    it only by the residual floor's width, under 2% even 62x beyond the data."""
    point, upper = predict_power_law(fit_power_law(*_sample(None, b)), PRODUCTION)
    truth = _true_peak(b, PRODUCTION)
    assert point == pytest.approx(truth, rel=1e-6)
    assert point < upper < 1.02 * point


@pytest.mark.calibration
@pytest.mark.parametrize("runs", [1, 3])
def test_exponent_interval_covers_the_truth_at_its_nominal_rate(runs: int) -> None:
    """3% lognormal noise, 5 sizes x 1 or 3 runs (3 or 13 degrees of freedom): the t interval
    is exact under this model, so it covers b in 95% of replicates. With 1000 replicates the
    99.9% binomial band is 0.926..0.971. A standard error 20% too small gives ~0.90, and a
    normal quantile in place of Student's t gives ~0.86 at 3 degrees of freedom: both fail.

    The reported standard error must also match the actual spread of the estimates: the
    sd of 1000 estimates is known to about 2.2%, so their ratio lies within 0.9..1.1.
    """
    rng = np.random.default_rng(31 + runs)
    replicates, b = 1000, 1.0
    fits = [fit_power_law(*_sample(rng, b, runs=runs, sigma=0.03)) for _ in range(replicates)]
    covered = sum(f.low <= b <= f.high for f in fits) / replicates
    low, high = _band(replicates, 0.95)
    assert low <= covered <= high
    estimates = np.array([f.exponent for f in fits])
    spread = float(estimates.std(ddof=1))
    assert abs(float(estimates.mean()) - b) < 4 * spread / math.sqrt(replicates)
    reported = math.sqrt(float(np.mean([f.se**2 for f in fits])))
    assert 0.9 < reported / spread < 1.1


# --- predict_power_law -------------------------------------------------------------------


@pytest.mark.calibration
def test_extrapolated_upper_bound_is_exceeded_at_its_nominal_rate() -> None:
    """The bound is the upper end of a two-sided 95% interval for the median peak, i.e. a
    one-sided 97.5% bound: the true median peak at the production size lies above it in 2.5%
    of replicates. With 1000 replicates the 99.9% band is 1.0%..4.3%; a bound that ignored
    the extrapolation distance, or had a spread 20% too small, would exceed it. The point is
    unbiased on the log scale: its median over replicates is the truth within 1% (its own
    sd is ~4% per replicate, ~0.2% for the median).
    """
    rng = np.random.default_rng(32)
    replicates, b = 1000, 1.0
    truth = _true_peak(b, PRODUCTION)
    points, exceeded = [], 0
    for _ in range(replicates):
        point, upper = predict_power_law(fit_power_law(*_sample(rng, b, runs=3, sigma=0.03)), PRODUCTION)
        assert upper > point > 0
        points.append(point)
        exceeded += truth > upper
    assert float(np.median(points)) == pytest.approx(truth, rel=0.01)
    low, high = _band(replicates, 0.025)
    assert low <= exceeded / replicates <= high


def test_extrapolation_bound_widens_with_distance_from_the_data() -> None:
    """An honest extrapolation: the relative width of the bound is smallest at the centre of
    the fitted sizes (their geometric mean) and grows strictly on either side of it."""
    fit = fit_power_law(*_sample(np.random.default_rng(33), 1.0, runs=3, sigma=0.03))
    centre = math.exp(fit.mean_log_n)

    def width(size: float) -> float:
        point, upper = predict_power_law(fit, size)
        return (upper + OFFSET) / (point + OFFSET)

    beyond = [width(centre * factor) for factor in (1, 2, 4, 16, 64, 256, 4096)]
    below = [width(centre / factor) for factor in (1, 2, 4, 8)]
    assert all(a < b for a, b in itertools.pairwise(beyond))
    assert all(a < b for a, b in itertools.pairwise(below))
    # 4096x beyond the centre the margin above the point is several times that at the centre.
    assert beyond[-1] - 1 > 3 * (beyond[0] - 1)


# --- degenerate input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sizes", "peaks"),
    [
        ([], []),
        ([1000], [5000]),
        ([1000, 2000], [5000, 9000]),  # two points: no residual to estimate the error from
        ([1000] * 5, [5000, 5100, 4900, 5000, 5050]),  # one size: the slope is undefined
    ],
)
def test_degenerate_input_gives_no_exponent_without_raising(sizes: list[int], peaks: list[int]) -> None:
    fit = fit_power_law(sizes, peaks)
    assert math.isnan(fit.exponent)
    assert (fit.low, fit.high, fit.se) == (-math.inf, math.inf, math.inf)
    assert fit.points == len(sizes)
    good = fit_power_law(*_sample(None, 1.0))
    assert exponent_increase_p(fit, good) == 1.0
    assert exponent_increase_p(good, fit) == 1.0


def test_predicting_from_a_degenerate_fit_gives_no_bound() -> None:
    """Two sizes measured once each is a degenerate fit that the session can produce (a
    sizes=[...] family whose members stop after one clear run); extrapolating it must not
    crash, and nothing is known about the production peak, so the bound is infinite."""
    _, upper = predict_power_law(fit_power_law([1000, 2000], [5000, 9000]), PRODUCTION)
    assert upper == math.inf


def test_identical_repeated_peaks_do_not_claim_infinite_precision() -> None:
    """Deterministic peaks (three identical runs per size) fit the line exactly; the residual
    variance is floored at a 0.1% resolution, so the error is that floor and not zero."""
    fit = fit_power_law(*_sample(None, 1.0, runs=3))
    assert fit.residual_var == pytest.approx(0.001**2)
    assert fit.se == pytest.approx(0.001 / math.sqrt(fit.sxx))
    assert fit.low < fit.exponent < fit.high
    point, upper = predict_power_law(fit, PRODUCTION)
    assert upper > point
    assert exponent_increase_p(fit, fit) == 0.5


# --- exponent_increase_p -----------------------------------------------------------------


def _fit(rng: np.random.Generator, b: float, runs: int, sigma: float = 0.03) -> PowerFit:
    return fit_power_law(*_sample(rng, b, runs=runs, sigma=sigma))


def test_linear_to_quadratic_is_overwhelming_evidence() -> None:
    rng = np.random.default_rng(41)
    old, new = _fit(rng, 1.0, runs=3), _fit(rng, 2.0, runs=3)
    assert exponent_increase_p(old, new) < 1e-12
    assert exponent_increase_p(old, new, margin=0.25) < 1e-12
    assert exponent_increase_p(new, old) > 1 - 1e-12


def test_identical_fits_are_neutral_and_the_margin_moves_p() -> None:
    """No difference is no evidence either way (p = 0.5 exactly); asking for an increase of
    more than a positive margin makes the same data weaker evidence, a negative one stronger."""
    fit = _fit(np.random.default_rng(42), 1.0, runs=3)
    assert exponent_increase_p(fit, fit) == 0.5
    assert exponent_increase_p(fit, fit, margin=-0.01) < 0.5 < exponent_increase_p(fit, fit, margin=0.01)


@pytest.mark.parametrize("se", [math.inf, math.nan])
def test_unknown_standard_error_is_no_evidence(se: float) -> None:
    rng = np.random.default_rng(43)
    old, new = _fit(rng, 1.0, runs=3), _fit(rng, 2.0, runs=3)
    assert exponent_increase_p(replace(old, se=se), new) == 1.0
    assert exponent_increase_p(old, replace(new, se=se)) == 1.0


@pytest.mark.calibration
def test_exponent_pvalues_are_calibrated_under_no_change() -> None:
    """Baseline 5 sizes x 6 runs, current 5 sizes x 4 runs, same law, 3% noise. The rate of
    p < 0.05 over 1000 replicates must lie in the 99.9% binomial band around 0.05
    (0.029..0.074): a doubled rate (0.10) fails with probability > 99%. p < 0.5 is the
    sign of the exponent difference: half the replicates, band 0.448..0.552.

    Each fit has enough points for the normal approximation to be fair (18 and 28 degrees
    of freedom). With 3 sizes x 2 runs (4 degrees of freedom) it is not: about 2.4x nominal
    at 0.01, so that design is deliberately not asserted here.
    """
    rng = np.random.default_rng(44)
    replicates = 1000
    p = np.array(
        [exponent_increase_p(_fit(rng, 1.0, runs=6), _fit(rng, 1.0, runs=4)) for _ in range(replicates)]
    )
    low, high = _band(replicates, 0.05)
    assert low <= float(np.mean(p < 0.05)) <= high
    low, high = _band(replicates, 0.5)
    assert low <= float(np.mean(p < 0.5)) <= high


def test_exponent_pvalues_are_calibrated_with_the_gates_few_runs() -> None:
    """The smallest family the gate judges: 3 sizes, a baseline of 6 runs per size (16
    degrees of freedom) against 2 current runs per size (4). Under no change the two fits
    share one residual spread, so Student's t on their pooled spread is exact here.

    3000 replicates (about 2 s): the smallest count whose 99.9% binomial band at 0.01
    (0.0047..0.0163) excludes a doubled rate (0.02) with probability about 99%. At 0.001 the
    band is 0..0.0033. A normal approximation (the standard errors combined as if known)
    measured 2.4x nominal at 0.01 and 6x at 0.001 on this design, and fails both."""
    rng = np.random.default_rng(45)
    sizes = (1_000, 4_000, 16_000)

    def fit(runs: int) -> PowerFit:
        n = np.repeat(np.asarray(sizes, float), runs)
        return fit_power_law(n, 3 * OFFSET / sizes[0] * n * np.exp(rng.normal(0.0, 0.03, n.size)) - OFFSET)

    replicates = 3000
    p = np.array([exponent_increase_p(fit(6), fit(2)) for _ in range(replicates)])
    for level in (0.01, 0.001):
        low, high = _band(replicates, level)
        assert low <= float(np.mean(p < level)) <= high, (level, float(np.mean(p < level)))
