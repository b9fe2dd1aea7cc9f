"""From one run's raw series to the few numbers the statistics need, plus its shape.

The honest leak signal is the *floor*: memory after each call, after garbage collection.
Its slope is the growth per call. A straight line through "rise, then flat" (a bounded
cache filling) reads as growth, so the window is also fitted in halves: when the first
half rises and the second is flat, the growth is warm-up that saturates, the second
half's slope is what counts, and the user is told how much warm-up the scenario needs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .model import RunRecord, RunSummary, Shape, ShapeReport
from .slopes import SlopeFit, fit_slope, theil_sen_slope
from .stats import combine_pvalues

# A first half this much steeper than the second is warm-up, not a leak.
_SATURATION_RATIO = 0.25
_TREND_ALPHA = 0.01
# A first half's rise must be this many times the second half's scatter about its line.
_RISE_SPREADS = 10.0
# Warm-up rising slower than this (bytes per call) is not worth a "raise warmup" note.
_HINT_SLOPE = 128.0


@dataclass(frozen=True, slots=True)
class GrowthAnalysis:
    gated: SlopeFit  # the fit whose slope is the growth per call
    full: SlopeFit
    head: SlopeFit
    tail: SlopeFit
    saturating: bool
    settled_after: int | None  # measured calls until the floor stopped rising
    gated_from: int  # the first call the gated fit covers (the second half's, when saturating)


def rolling_floor(floor: Sequence[float], window: int | None = None) -> list[float]:
    """The lowest floor within each window of ``window`` calls (default a third of them).

    Memory retained for good lifts every window's minimum; memory held for a while and
    then released (a buffer flushed every 10 calls, a batch kept until it is full) does
    not, however regular its teeth, as long as a window spans a tooth. On a flat but noisy
    floor the window minima are as flat as the floor, so the slope stays unbiased.
    """
    n = len(floor)
    w = window if window is not None else max(1, n // 3)
    if w <= 1 or n - w + 1 < 3:
        return list(floor)
    return [min(floor[i : i + w]) for i in range(n - w + 1)]


def _autocorrelation_inflation(floor: Sequence[float], fit: SlopeFit) -> float:
    """How much wider a slope's error is when neighbouring calls' floors move together.

    Theil-Sen's interval assumes independent points; a floor that drifts for a few calls
    (an arena kept for a while, a free list refilled) is autocorrelated, and its interval
    covered the true slope in 68% of runs instead of 95% (AR(1), 0.6). With ``r`` the lag-1
    autocorrelation of the residuals, an AR(1) series carries ``(1 - r) / (1 + r)`` of its
    points' information, so the error grows by the square root of the inverse (``r`` in
    [0, 0.9]: independent noise is never narrowed).
    """
    y = np.asarray(floor, float)
    if len(y) < 8 or not math.isfinite(fit.slope):
        return 1.0
    residuals = y - fit.slope * np.arange(len(y))
    residuals -= np.median(residuals)
    a, b = residuals[:-1], residuals[1:]
    denom = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    r = float(np.sum(a * b)) / denom if denom > 0 else 0.0
    r = min(max(r, 0.0), 0.9)
    return math.sqrt((1 + r) / (1 - r))


def _fit(floor: Sequence[float]) -> SlopeFit:
    """Theil-Sen on the raw floor, whose interval is honest (its points are independent
    calls; overlapping window minima are not, and an interval fitted to them covered the
    true slope in 31-78% of runs instead of 95%), widened for autocorrelation. Memory held
    for a while and released (a buffer flushed every few calls) is a minority of the
    pairwise slopes when its period is short, so the median of them does not read it as
    growth; a rolling-minimum slope used to reject such holds switched on heavy-tailed
    noise too (coverage 86%, a 256 B/call leak read as 218), so it is not used."""
    raw = fit_slope(floor)
    wider = _autocorrelation_inflation(floor, raw)
    if wider > 1.0:
        half_low, half_high = (raw.slope - raw.low) * wider, (raw.high - raw.slope) * wider
        raw = replace(raw, low=raw.slope - half_low, high=raw.slope + half_high, se=raw.se * wider)
    return raw


# Delete-one-block jackknife of an RSS slope: blocks of calls, and the widening for the
# k - 1 degrees of freedom its error has (t(0.975, 7) / 1.96).
_JACKKNIFE_BLOCKS = 8
_JACKKNIFE_WIDEN = 2.365 / 1.96


def block_jackknife_se(floor: Sequence[float], fit: SlopeFit, blocks: int = _JACKKNIFE_BLOCKS) -> float:
    """A slope's error from how much it moves when each block of neighbouring calls is left
    out, widened for the few degrees of freedom that leaves.

    Resident memory moves in allocator blocks (a 1 MiB arena, a trimmed heap top) that stay
    for some calls and go: a floor toggling between two levels. Theil-Sen's interval,
    widened for autocorrelation, reads such a run as 2.6x as uncertain as its slope really
    is (simulated: 1 MiB toggles, a state flip every 10 calls), which kept unchanged
    scenarios from passing in fewer than 8 runs. Leaving out blocks sees the toggles as they
    are: its 95% coverage is 0.90-0.97 on Gaussian, heavy-tailed, AR(1) and toggling floors
    (``tests/unit/test_metrics.py``). ``fit`` is the floor's own fit, whose error stands
    where there are too few calls for the blocks, or none moved.
    """
    y = np.asarray(floor, float)
    n = len(y)
    if n < 2 * blocks or np.all(y == y[0]):
        return fit.se
    x = np.arange(n, dtype=float)
    edges = np.linspace(0, n, blocks + 1).astype(int)
    slopes = []
    for j in range(blocks):
        keep = np.ones(n, bool)
        keep[edges[j] : edges[j + 1]] = False
        slopes.append(theil_sen_slope(y[keep], x[keep]))
    s = np.asarray(slopes)
    return float(math.sqrt((blocks - 1) / blocks * np.sum((s - s.mean()) ** 2))) * _JACKKNIFE_WIDEN


# Resident memory is read in whole pages.
_PAGE = 4096.0


def scatter_se(floor: Sequence[float], slope: float, quantum: float = _PAGE) -> float:
    """The least error a slope fitted to ``floor`` can have: the scatter of its readings
    from call to call (the median step about the line, robust to a floor that toggles
    between two levels now and then; at least the rounding of readings to ``quantum``
    bytes, ``quantum / sqrt(12)``) over the spread of the calls, as for independent
    readings.

    The jackknife reads a page-quantized floor whose readings mostly tie as exactly
    certain: every block left out gives the same Theil-Sen slope (0), and its error is 0 in
    about half of quiet runs (8 KiB of scatter in 4 KiB pages) and in a third of runs four
    times as noisy, so a run from a noisier machine could not show it (the guard in
    ``findings.unvouched`` fired on 27% of them). The scatter sees every reading."""
    y = np.asarray(floor, float)
    n = len(y)
    if n < 3 or not math.isfinite(slope):
        return 0.0
    x = np.arange(n, dtype=float)
    steps = np.abs(np.diff(y - slope * x))
    sd = max(1.4826 * float(np.median(steps)) / math.sqrt(2.0), quantum / math.sqrt(12.0))
    return sd / math.sqrt(float(np.sum((x - x.mean()) ** 2)))


def analyse_growth(floor: Sequence[float]) -> GrowthAnalysis:
    """The floor's growth, and whether it is warm-up that saturates: the first half rises
    (a trend at ``_TREND_ALPHA``), the second is flat by comparison, and the rise is far
    beyond how far the floor wanders on its own (``_RISE_SPREADS`` times the second half's
    scatter about its line). A trend test on neighbouring calls that drift together
    (AR(1), 0.9) read a flat floor's first half as rising, and called 19% of flat runs
    warm-up (0.35% with the rise held to this), whose second-half slope then stood for the
    run; such a floor wanders by a few of its spreads over half a run, while a cache
    filling rises by 50 (4 KiB over +-100 B of jitter) to thousands."""
    full = _fit(floor)
    half = len(floor) // 2
    head = _fit(floor[: half + 1])
    tail = _fit(floor[half:])
    after = np.asarray(floor[half:], float)
    after = after - tail.slope * np.arange(len(after))  # the second half about its line
    scatter = 1.4826 * float(np.median(np.abs(after - np.median(after)))) if len(after) else 0.0
    saturating = (
        head.n >= 5
        and head.trend_p < _TREND_ALPHA
        and head.slope > 0
        and tail.slope <= _SATURATION_RATIO * head.slope
        and head.slope * half > _RISE_SPREADS * scatter
    )
    settled_after = None
    if saturating:
        rise = floor[-1] - floor[0]
        settled_after = next((i for i, v in enumerate(floor) if v >= floor[0] + 0.95 * rise), len(floor) - 1)
    gated, gated_from = (tail, half) if saturating else (full, 0)
    return GrowthAnalysis(gated, full, head, tail, saturating, settled_after, gated_from)


def settled_floor(counts: Sequence[int]) -> list[int]:
    """Each reading as the least from it on: what a call left behind for good.

    pymalloc's block count between calls jumps for a call or two (a collection's or the
    interpreter's own transient objects, 5-20 blocks) and falls back; those spikes widened
    the cheap look's slope error past what it lets pass on 2 of 25 cheap runs of an
    unchanged scenario. Objects a leak keeps never fall back, so its slope stays; on a steady
    rise the last readings have fewer to take the least of, which lifts the slope a little
    (a look that goes on to the traced runs) rather than hides it."""
    return [min(counts[i:]) for i in range(len(counts))]


def summarize_run(record: RunRecord) -> RunSummary:
    heap = analyse_growth(record.heap_floor_bytes).gated
    rss_analysis = analyse_growth(record.rss_floor_bytes)
    rss = rss_analysis.gated
    rss_floor = record.rss_floor_bytes[rss_analysis.gated_from :]
    rss_se = max(block_jackknife_se(rss_floor, rss), scatter_se(rss_floor, rss.slope))
    counted = len(record.blocks_floor) > 2
    blocks = analyse_growth(settled_floor(record.blocks_floor)).gated if counted else None
    return RunSummary(
        peak_heap_bytes=record.peak_heap_bytes,
        peak_rss_bytes=record.peak_rss_bytes,
        heap_growth=heap.slope,
        heap_growth_se=_finite(heap.se),
        rss_growth=rss.slope,
        rss_growth_se=_finite(rss_se),
        blocks_growth=None if blocks is None else blocks.slope,
        blocks_growth_se=None if blocks is None else _finite(blocks.se),
    )


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def classify_shape(records: Sequence[RunRecord]) -> ShapeReport:
    """Name the memory shape across runs, as the field notes describe them."""
    analyses = [analyse_growth(r.heap_floor_bytes) for r in records if r.heap_floor_bytes]
    if not analyses:
        return ShapeReport(Shape.FLAT, 1.0, None)
    trend_p = combine_pvalues([a.gated.trend_p for a in analyses])
    warmup_hint = None
    saturating = [a for a in analyses if a.saturating]
    if len(saturating) * 2 > len(analyses) and max(a.head.slope for a in saturating) >= _HINT_SLOPE:
        settled = max(a.settled_after or 0 for a in analyses)
        warmup_hint = int(math.ceil((records[0].warmup + settled) * 1.5 / 10.0) * 10)
        return ShapeReport(Shape.WARMING, trend_p, warmup_hint)
    slope = statistics.median(a.gated.slope for a in analyses)
    heaps = [h for r in records for _, h, _ in r.timeline]
    typical = statistics.median(heaps) if heaps else 0
    peak = statistics.median(r.peak_heap_bytes for r in records)
    if trend_p < _TREND_ALPHA and slope > 0:
        end_floor = statistics.median(r.heap_floor_bytes[-1] for r in records)
        temporaries = peak - end_floor
        shape = Shape.SAWTOOTH if temporaries > 4 * slope else Shape.GROWING
        return ShapeReport(shape, trend_p, None)
    if peak > 4 * max(typical, 1) and peak > 1024**2:
        return ShapeReport(Shape.SPIKY, trend_p, None)
    return ShapeReport(Shape.FLAT, trend_p, None)
