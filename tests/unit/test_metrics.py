"""Growth analysis and memory shapes on synthetic floor series whose truth is known.

A floor series has 51 points: the level before the first of 50 measured calls, then the
level after each call (after garbage collection). The noise models follow what the
floor looks like in practice: pymalloc arenas and free lists make the floor wobble by
about +-100 B from call to call; temporaries do not reach the floor at all.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from pytest_memgate.metrics import Shape, analyse_growth, classify_shape, summarize_run
from pytest_memgate.model import RunRecord, RunStatus

KiB = 1024
MiB = 1024**2
CALLS = 50
N = CALLS + 1
INDEX = np.arange(N)
BASE = 8 * MiB

PROPERTY = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def jitter(rng: np.random.Generator, size: int = N, amplitude: int = 100) -> np.ndarray:
    return rng.integers(-amplitude, amplitude + 1, size)


def floors(values: np.ndarray) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def cache_fill(fill_calls: int, total: float) -> np.ndarray:
    """A bounded cache: ``total`` bytes spread over the first ``fill_calls`` calls, then full."""
    return total * np.minimum(INDEX, fill_calls) / fill_calls


# --- analyse_growth -------------------------------------------------------------------


@pytest.mark.calibration
def test_flat_series_has_no_growth():
    rng = np.random.default_rng(1)
    for _ in range(200):
        a = analyse_growth(floors(BASE + jitter(rng)))
        assert abs(a.gated.slope) < 8
        assert a.gated is a.full or a.saturating
    a = analyse_growth(floors(BASE + jitter(np.random.default_rng(2))))
    assert not a.saturating
    assert a.settled_after is None
    assert a.gated == a.full
    assert a.gated.trend_p > 0.01


@pytest.mark.calibration
def test_flat_noise_is_rarely_mistaken_for_warm_up():
    rng = np.random.default_rng(3)
    saturating = sum(analyse_growth(floors(BASE + jitter(rng))).saturating for _ in range(300))
    assert saturating / 300 <= 0.03


def test_perfectly_flat_series():
    a = analyse_growth((BASE,) * N)
    assert a.gated.slope == 0.0
    assert a.gated.se == 0.0
    assert not a.saturating


def test_linear_leak_is_measured_as_growth():
    rng = np.random.default_rng(4)
    covered = 0
    for _ in range(100):
        a = analyse_growth(floors(BASE + 512 * INDEX + jitter(rng)))
        assert not a.saturating
        assert a.gated == a.full
        assert a.gated.slope == pytest.approx(512, rel=0.02)
        assert a.gated.trend_p < 1e-10
        covered += a.gated.low <= 512 <= a.gated.high
    assert covered >= 88  # a 95% interval


def test_leak_in_a_floor_that_only_moves_in_arena_steps():
    # 512 B/call retained, but the tracked floor only moves when a new 4 KiB block is taken.
    rng = np.random.default_rng(5)
    a = analyse_growth(floors(BASE + np.floor(512 * INDEX / 4096) * 4096 + jitter(rng)))
    assert a.gated.slope == pytest.approx(512, rel=0.1)
    assert a.gated.trend_p < 1e-10


@pytest.mark.parametrize("period", [5, 7, 10, 13])
@pytest.mark.parametrize("amplitude", [4 * KiB, 16 * KiB])
def test_rising_floor_sawtooth(period, amplitude):
    """A buffer that fills and is trimmed every ``period`` calls, on top of a 512 B/call leak."""
    rng = np.random.default_rng(period * amplitude)
    for phase in range(period):
        saw = amplitude * ((INDEX + phase) % period) / (period - 1)
        a = analyse_growth(floors(BASE + 512 * INDEX + saw + jitter(rng)))
        assert not a.saturating
        assert a.gated.trend_p < 1e-4
        # Theil-Sen follows the long-run rise; partial cycles at the window's ends bias it
        # by up to about a third here, never down to "no growth".
        assert 0.9 * 512 <= a.gated.slope <= 1.5 * 512


@pytest.mark.parametrize("fill_calls", [8, 10, 14, 17])
def test_bounded_cache_is_warm_up_not_growth(fill_calls):
    """A cache that fills during the first third of the calls, then stays full."""
    rng = np.random.default_rng(fill_calls)
    saturating = 0
    for _ in range(40):
        a = analyse_growth(floors(BASE + cache_fill(fill_calls, 200 * KiB) + jitter(rng)))
        assert abs(a.gated.slope) < 8
        if a.saturating:
            saturating += 1
            assert a.gated == a.tail
            assert a.settled_after is not None
            assert fill_calls - 2 <= a.settled_after <= fill_calls
    assert saturating >= 38


@pytest.mark.parametrize("fill_calls", [2, 4, 6])
def test_cache_filled_in_a_few_calls_is_not_growth_either(fill_calls):
    # The halves may not tell such a short rise apart (it is often not called saturating),
    # but Theil-Sen's median outvotes it over the whole window: the gated slope stays nil.
    rng = np.random.default_rng(fill_calls)
    for _ in range(40):
        a = analyse_growth(floors(BASE + cache_fill(fill_calls, 200 * KiB) + jitter(rng)))
        assert abs(a.gated.slope) < 8


def test_late_warm_up_would_read_as_a_leak_without_the_split():
    rng = np.random.default_rng(12)
    a = analyse_growth(floors(BASE + cache_fill(17, 200 * KiB) + jitter(rng)))
    assert a.full.slope > 256  # more than the default growth tolerance
    assert a.saturating
    assert abs(a.gated.slope) < 8


def test_smooth_saturating_warm_up():
    rng = np.random.default_rng(6)
    a = analyse_growth(floors(BASE + 300 * KiB * (1 - np.exp(-INDEX / 4)) + jitter(rng)))
    assert a.saturating
    assert abs(a.gated.slope) < 64
    # 95% of the rise is reached after 4 * ln(20) = 12 calls.
    assert 10 <= a.settled_after <= 14


def test_leak_behind_a_filling_cache_is_still_measured():
    rng = np.random.default_rng(7)
    for fill_calls in (8, 12, 17):
        series = BASE + cache_fill(fill_calls, 200 * KiB) + 512 * INDEX + jitter(rng)
        a = analyse_growth(floors(series))
        assert a.saturating
        assert a.gated.slope == pytest.approx(512, rel=0.05)
        assert a.gated.trend_p < 1e-6


def test_leak_faster_than_the_warm_up_is_not_called_saturating():
    rng = np.random.default_rng(8)
    series = BASE + cache_fill(10, 20 * KiB) + 2048 * INDEX + jitter(rng)
    a = analyse_growth(floors(series))
    assert not a.saturating
    assert a.gated.slope >= 2048


def test_short_series():
    for series in ((), (BASE,), (BASE, BASE + 10), (BASE, BASE + 10, BASE + 20)):
        a = analyse_growth(series)
        assert not a.saturating
        assert math.isfinite(a.gated.slope)


@pytest.mark.calibration
@PROPERTY
@given(
    st.integers(min_value=0, max_value=2**31),
    st.integers(min_value=0, max_value=2**16),
    st.integers(min_value=5, max_value=200),
)
def test_exact_line_is_never_warm_up(intercept, slope, length):
    series = tuple(intercept + slope * i for i in range(length))
    a = analyse_growth(series)
    assert not a.saturating
    assert a.gated.slope == pytest.approx(slope)


@pytest.mark.calibration
@PROPERTY
@given(
    st.lists(st.integers(min_value=0, max_value=2**24), min_size=0, max_size=80),
    st.integers(min_value=0, max_value=2**32),
)
def test_growth_analysis_ignores_the_absolute_level(series, offset):
    a = analyse_growth(tuple(series))
    b = analyse_growth(tuple(v + offset for v in series))
    assert b.saturating == a.saturating
    assert b.gated.slope == pytest.approx(a.gated.slope, abs=1e-6)
    assert b.settled_after == a.settled_after
    if a.saturating:
        assert a.tail.slope <= 0.25 * a.head.slope
        assert 0 <= a.settled_after < len(series)


# --- summarize_run --------------------------------------------------------------------


def record(
    heap_floor,
    *,
    peak: int,
    timeline_heap=None,
    rss_floor=None,
    warmup: int = 10,
) -> RunRecord:
    heap_floor = floors(np.asarray(heap_floor))
    heaps = heap_floor if timeline_heap is None else floors(np.asarray(timeline_heap))
    return RunRecord(
        status=RunStatus.OK,
        backend="memray",
        warmup=warmup,
        iterations=len(heap_floor) - 1,
        peak_heap_bytes=int(peak),
        peak_rss_bytes=int(peak) + 30 * MiB,
        heap_floor_bytes=heap_floor,
        rss_floor_bytes=floors(np.asarray(rss_floor)) if rss_floor is not None else heap_floor,
        timeline=tuple((0.01 * k, h, h + 30 * MiB) for k, h in enumerate(heaps)),
    )


def test_summarize_run_maps_each_series_to_its_slope():
    rng = np.random.default_rng(9)
    heap = BASE + 512 * INDEX + jitter(rng)
    rss = 30 * MiB + np.floor(jitter(rng, amplitude=64 * KiB) / 4096) * 4096
    summary = summarize_run(record(heap, peak=12 * MiB, rss_floor=rss))
    assert summary.peak_heap_bytes == 12 * MiB
    assert summary.peak_rss_bytes == 42 * MiB
    assert summary.heap_growth == pytest.approx(512, rel=0.02)
    assert 0 < summary.heap_growth_se < 10
    assert abs(summary.rss_growth) < 1024
    assert math.isfinite(summary.rss_growth_se)


def test_summarize_run_reports_the_gated_slope_of_a_warm_up():
    rng = np.random.default_rng(10)
    heap = BASE + cache_fill(12, 200 * KiB) + jitter(rng)
    summary = summarize_run(record(heap, peak=12 * MiB))
    assert abs(summary.heap_growth) < 8


def test_summarize_run_never_stores_an_infinite_error():
    summary = summarize_run(record([BASE, BASE + 100], peak=BASE))
    assert summary.heap_growth == 0.0
    assert summary.heap_growth_se == 0.0
    assert summary.rss_growth_se == 0.0


# --- classify_shape -------------------------------------------------------------------


def _runs(make, count: int = 3, seed: int = 0) -> list[RunRecord]:
    rng = np.random.default_rng(seed)
    return [make(rng) for _ in range(count)]


def _with_temporaries(floor: np.ndarray, temporaries: float) -> np.ndarray:
    """Timeline samples: the floor between calls, floor + temporaries inside each call."""
    inside = floor[:-1] + temporaries
    return np.ravel(np.column_stack([floor[:-1], inside]))


def test_flat_shape():
    def make(rng):
        floor = BASE + jitter(rng)
        return record(floor, peak=BASE + 2 * MiB, timeline_heap=_with_temporaries(floor, 2 * MiB))

    report = classify_shape(_runs(make))
    assert report.shape is Shape.FLAT
    assert report.trend_p > 0.01
    assert report.warmup_hint is None


def test_monotonic_growth_shape():
    def make(rng):
        floor = BASE + 512 * INDEX + jitter(rng)
        return record(floor, peak=int(floor[-1]) + 1000)

    report = classify_shape(_runs(make))
    assert report.shape is Shape.GROWING
    assert report.trend_p < 1e-10


def test_sawtooth_shape():
    def make(rng):
        floor = BASE + 512 * INDEX + jitter(rng)
        timeline = _with_temporaries(floor, 4 * MiB)
        return record(floor, peak=int(timeline.max()), timeline_heap=timeline)

    report = classify_shape(_runs(make))
    assert report.shape is Shape.SAWTOOTH
    assert report.trend_p < 1e-10


def test_spiky_shape():
    def make(rng):
        floor = BASE + jitter(rng)
        timeline = _with_temporaries(floor, 256 * KiB)
        timeline[40] = 64 * MiB  # one call in fifty builds something huge
        return record(floor, peak=64 * MiB, timeline_heap=timeline)

    report = classify_shape(_runs(make))
    assert report.shape is Shape.SPIKY


def test_warm_up_shape_and_hint():
    fill_calls, warmup = 17, 10

    def make(rng):
        floor = BASE + cache_fill(fill_calls, 200 * KiB) + jitter(rng)
        return record(floor, peak=int(floor.max()) + MiB, warmup=warmup)

    records = _runs(make)
    report = classify_shape(records)
    assert report.shape is Shape.WARMING
    assert report.warmup_hint is not None
    assert report.warmup_hint % 10 == 0
    # Enough warm-up to cover the rise (with margin), not an absurd amount.
    assert warmup + fill_calls < report.warmup_hint <= 2 * (warmup + fill_calls)
    settled = max(analyse_growth(r.heap_floor_bytes).settled_after for r in records)
    assert report.warmup_hint == math.ceil((warmup + settled) * 1.5 / 10) * 10


def test_warm_up_needs_a_majority_of_runs():
    rng = np.random.default_rng(11)
    warming = record(BASE + cache_fill(12, 200 * KiB) + jitter(rng), peak=BASE + MiB)
    flat = [record(BASE + jitter(rng), peak=BASE + MiB) for _ in range(2)]
    assert classify_shape([warming, *flat]).shape is not Shape.WARMING
    assert classify_shape([warming, warming, flat[0]]).shape is Shape.WARMING


def test_shape_without_floors():
    report = classify_shape([RunRecord(status=RunStatus.OK, backend="memray", peak_heap_bytes=MiB)])
    assert report.shape is Shape.FLAT
    assert report.trend_p == 1.0
    assert classify_shape([]).shape is Shape.FLAT


@pytest.mark.calibration
def test_flat_shape_is_stable_over_seeds():
    def make(rng):
        floor = BASE + jitter(rng)
        return record(floor, peak=BASE + 2 * MiB, timeline_heap=_with_temporaries(floor, 2 * MiB))

    shapes = [classify_shape(_runs(make, seed=seed)).shape for seed in range(100)]
    assert shapes.count(Shape.FLAT) >= 97


# --- honest slope errors on the gate's path ---------------------------------------------


def _noise(rng: np.random.Generator, model: str) -> np.ndarray:
    if model == "gaussian":
        return rng.normal(0, 2000, N)
    if model == "heavy-tailed":
        return 1000 * rng.standard_t(2, N)
    shocks, out = rng.normal(0, 2000, N), np.zeros(N)
    for i in range(N):  # AR(1), 0.6: the floor drifts for a few calls at a time
        out[i] = (0.6 * out[i - 1] if i else 0.0) + shocks[i]
    return out


@pytest.mark.calibration
@pytest.mark.parametrize("leak", [0.0, 256.0])
@pytest.mark.parametrize(("model", "nominal"), [("gaussian", 0.95), ("heavy-tailed", 0.95), ("AR(1)", 0.87)])
def test_summarize_run_reports_an_honest_slope_error(model: str, nominal: float, leak: float) -> None:
    """``summarize_run`` is what the gate compares: the true slope must lie within 1.96 of
    its standard errors in 95% of runs. 200 runs per case; limit: the 0.1% quantile of
    Binomial(200, nominal). The rolling-minimum fit used before covered 31-78% (its spread
    was 4-5x its error; measured with this script: gaussian 78%/43%, heavy 71%/31%, AR
    70%/32% for no leak/256 B/call). Measured now (300 runs): gaussian 95%/97%, heavy
    95%/96%, AR 93%/87%: Theil-Sen's interval widened for lag-1 autocorrelation is still
    short of 95% for a strongly drifting floor, so that case is held to 87%."""
    rng = np.random.default_rng(int(leak) + len(model))
    covered = 0
    for _ in range(200):
        floor = BASE + leak * INDEX + _noise(rng, model)
        s = summarize_run(record(floor, peak=12 * MiB))
        covered += abs(s.heap_growth - leak) <= 1.96 * s.heap_growth_se
    assert covered >= sps.binom.ppf(0.001, 200, nominal)


@pytest.mark.calibration
def test_a_real_leak_is_not_warm_up() -> None:
    """A 256 B/call leak in noisy floors (sd 2000 B) was classed as warm-up that saturates
    in 36 of 400 runs (its slope then read from the second half only). Measured now: 0 of
    300 with Gaussian noise; limit 2%."""
    rng = np.random.default_rng(40)
    saturating = sum(
        analyse_growth(floors(BASE + 256 * INDEX + rng.normal(0, 2000, N))).saturating for _ in range(200)
    )
    assert saturating <= 4


def test_a_single_retained_step_is_not_steady_growth() -> None:
    """+64 KiB retained once, at call 17: the rolling minimum read it as about 2 KiB/call
    (a third of the pairs of a 34-point window straddle it); the raw floor's median slope
    does not (measured: about 1 B/call)."""
    rng = np.random.default_rng(41)
    for at in (15, 17, 20):
        floor = BASE + np.where(INDEX >= at, 64 * KiB, 0) + jitter(rng)
        s = summarize_run(record(floor, peak=12 * MiB))
        assert abs(s.heap_growth) < 64


def _toggles(rng: np.random.Generator, block: int = MiB, flip: float = 0.1) -> np.ndarray:
    """An RSS floor that sits on one of two levels an allocator block apart (an arena kept
    or returned, a trimmed heap top) and switches with probability ``flip`` per call, over
    4 KiB pages of small noise."""
    state, level = np.empty(N), rng.integers(0, 2)
    for i in range(N):
        if rng.random() < flip:
            level = 1 - level
        state[i] = level
    return block * state + np.floor(rng.normal(0, 8 * KiB, N) / 4096) * 4096


@pytest.mark.calibration
@pytest.mark.parametrize(
    ("model", "nominal", "leak"),
    [
        ("gaussian", 0.95, 256.0),
        ("heavy-tailed", 0.95, 256.0),
        ("AR(1)", 0.87, 256.0),
        ("toggles", 0.95, 0.0),
        ("toggles", 0.95, 256.0),
        ("rare toggles", 0.95, 0.0),
        ("rare toggles", 0.95, 256.0),
    ],
)
def test_the_rss_slope_error_is_honest_on_toggling_floors(model: str, nominal: float, leak: float) -> None:
    """The RSS slope's error (block jackknife, ``metrics.block_jackknife_se``) covers the
    true slope as often as its 95% interval says, on the heap's noise models and on floors
    toggling by a 1 MiB block (a flip every 10 or every 33 calls). Measured (300 runs,
    leak 256): Gaussian 97%, heavy 95%, AR 90%, toggles 95% and 92%. The Theil-Sen
    interval widened for autocorrelation (still the heap's) covers toggles 99-100%, with
    errors whose upper quartile is 1.8-2.9x the block jackknife's in these four cases: so
    wide that an unchanged scenario needed up to 8 runs. Limits: the 0.1% quantile of
    Binomial(200, nominal); on toggles, an upper quartile of the errors at most 0.65x the
    widened Theil-Sen one's."""
    rng = np.random.default_rng(int(leak) + 7 * len(model))
    errors, widened, covered = [], [], 0
    for _ in range(200):
        if model in ("toggles", "rare toggles"):
            noise = _toggles(rng, flip=0.1 if model == "toggles" else 0.03)
        else:
            noise = _noise(rng, model)
        rss = 40 * MiB + leak * INDEX + noise
        s = summarize_run(record(np.full(N, BASE), peak=12 * MiB, rss_floor=rss))  # a flat heap: quick
        errors.append(s.rss_growth_se)
        widened.append(analyse_growth(floors(rss)).gated.se)
        covered += abs(s.rss_growth - leak) <= 1.96 * s.rss_growth_se
    assert covered >= sps.binom.ppf(0.001, 200, nominal)
    if model.endswith("toggles"):
        assert np.quantile(errors, 0.75) <= 0.65 * np.quantile(widened, 0.75), np.quantile(
            widened, 0.75
        ) / np.quantile(errors, 0.75)


def _ar_floor(rng: np.random.Generator, phi: float = 0.9, sd: float = 100.0) -> np.ndarray:
    """A flat floor that drifts: AR(1) with coefficient ``phi``, started in its stationary state."""
    e = rng.normal(0, sd, N)
    y = np.empty(N)
    y[0] = e[0] / math.sqrt(1 - phi**2)
    for i in range(1, N):
        y[i] = phi * y[i - 1] + e[i]
    return BASE + y


@pytest.mark.calibration
def test_a_drifting_flat_floor_is_rarely_called_warm_up():
    """AR(1), 0.9, no growth: warm-up is called at most at the head's trend level (1%),
    within Binomial(2000, 0.01)'s 99.9% point. Measured (seed 60, 2,000 floors): 19.1%
    when a trend in the first half was enough (its second-half slope then stood for the
    run); 0.35% with the rise held to ten spreads of the second half's scatter."""
    rng = np.random.default_rng(60)
    trials = 2000
    called = sum(analyse_growth(floors(_ar_floor(rng))).saturating for _ in range(trials))
    assert called <= sps.binom.ppf(0.999, trials, 0.01), f"{called / trials:.3f}"


def test_a_cache_filling_on_a_drifting_floor_is_still_warm_up():
    """20 KiB filled over 17 calls on an AR(1), 0.9 floor: still called warm-up, and the
    gated slope is the flat second half's."""
    rng = np.random.default_rng(61)
    for _ in range(40):
        a = analyse_growth(floors(_ar_floor(rng) + cache_fill(17, 20 * KiB)))
        assert a.saturating
        assert abs(a.gated.slope) < 64
