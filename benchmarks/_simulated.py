"""Simulated runs for ``calibration.py``: floor noise models, peaks, and pools of runs.

Each run's floors (51 readings: before the first of 50 calls, then after each) go through
the gate's own estimators (``metrics.summarize_run``), so slopes and their errors are the
ones the gate computes. Fitting is the slow part (about 10 ms a run), so, as the tests in
``tests/unit/test_verdict.py`` do, runs are fitted once into pools and trials draw from
them; peaks are drawn afresh for every draw (they go through no estimator).

The floor models follow ``tests/unit/test_metrics.py`` and ``test_verdict.py``: Gaussian,
heavy-tailed (Student t, 2 degrees of freedom), AR(1) at 0.6 and 0.9, and an RSS floor
toggling by a 1 MiB allocator block with a flip every 10 or 33 calls. RSS floors are read
in 4 KiB pages.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from pytest_memgate.metrics import summarize_run
from pytest_memgate.model import RunRecord, RunStatus, RunSummary

KiB = 1024
MiB = 1024**2
CALLS = 50
N = CALLS + 1
INDEX = np.arange(N, dtype=float)
PAGE = 4096.0

Floats = NDArray[np.float64]
# rng -> (heap floor noise, RSS floor noise, bytes an RSS peak carries on top: a toggle's block)
FloorNoise = Callable[[np.random.Generator], tuple[Floats, Floats, float]]


def ar1(rng: np.random.Generator, phi: float, sd: float) -> Floats:
    """A flat floor that drifts: AR(1) with coefficient ``phi`` and stationary sd ``sd``,
    started in its stationary state."""
    shocks = rng.normal(0.0, sd * math.sqrt(1 - phi**2), N)
    out = np.empty(N)
    out[0] = rng.normal(0.0, sd)
    for i in range(1, N):
        out[i] = phi * out[i - 1] + shocks[i]
    return out


def toggles(rng: np.random.Generator, flip: float, block: float = MiB) -> tuple[Floats, float]:
    """A floor on one of two levels ``block`` apart, switching with probability ``flip``
    after each call (an arena kept or returned); also the block when the run saw the upper
    level (its RSS peak carries it)."""
    state, level = np.empty(N), int(rng.integers(0, 2))
    for i in range(N):
        if rng.random() < flip:
            level = 1 - level
        state[i] = level
    return block * state, block * float(state.max())


def _jitter(rng: np.random.Generator) -> Floats:
    """pymalloc's +-100 B from call to call: a heap floor that barely moves."""
    return rng.integers(-100, 101, N).astype(float)


def _gaussian(scale: float = 1.0) -> FloorNoise:
    return lambda rng: (rng.normal(0.0, 2000.0, N), rng.normal(0.0, 8 * KiB * scale, N), 0.0)


def _t_tails(rng: np.random.Generator) -> tuple[Floats, Floats, float]:
    return 1000.0 * rng.standard_t(2, N), 4 * KiB * rng.standard_t(2, N), 0.0


def _ar(phi: float, heap_sd: float) -> FloorNoise:
    return lambda rng: (ar1(rng, phi, heap_sd), ar1(rng, phi, 8 * KiB), 0.0)


def _toggling(flip: float) -> FloorNoise:
    def noise(rng: np.random.Generator) -> tuple[Floats, Floats, float]:
        rss, extra = toggles(rng, flip)
        return _jitter(rng), rss + rng.normal(0.0, 8 * KiB, N), extra

    return noise


# Heap floor noise after ``test_metrics._noise`` (Gaussian sd 2000 B, t(2) x 1000 B, AR(0.6)
# shocks of about 2000 B) and ``test_verdict.ar_floor`` (AR(0.9), stationary sd 3000 B);
# RSS floors scatter about 8 KiB (``test_the_noisier_machine_guard_sees_page_quantized_floors``).
FLOORS: dict[str, FloorNoise] = {
    "gaussian": _gaussian(),
    "gaussian-4x": _gaussian(4.0),  # RSS floors 4x as noisy: a busier machine
    "t-tails": _t_tails,
    "ar-0.6": _ar(0.6, 2500.0),
    "ar-0.9": _ar(0.9, 3000.0),
    "toggles-10": _toggling(0.1),
    "toggles-33": _toggling(0.03),
}


def floor_record(
    rng: np.random.Generator, floors: str, heap_leak: float = 0.0, rss_leak: float = 0.0
) -> RunRecord:
    """One run's floors: ``heap_leak`` bytes a call retained by Python objects (resident
    too), ``rss_leak`` more that only RSS sees (native memory). The peaks hold only what the
    floors add to them (a toggle's block); ``draw`` adds the rest."""
    heap_noise, rss_noise, extra = FLOORS[floors](rng)
    heap = 8 * MiB + heap_leak * INDEX + heap_noise
    rss = 40 * MiB + (heap_leak + rss_leak) * INDEX + rss_noise
    return RunRecord(
        status=RunStatus.OK,
        backend="memray",
        warmup=10,
        iterations=CALLS,
        peak_heap_bytes=0,
        peak_rss_bytes=int(extra),
        heap_floor_bytes=tuple(int(v) for v in heap),
        rss_floor_bytes=tuple(int(v) for v in np.floor(rss / PAGE) * PAGE),
    )


def fit_pool(
    floors: str, size: int, seed: int, heap_leak: float = 0.0, rss_leak: float = 0.0
) -> tuple[RunSummary, ...]:
    """``size`` runs through ``summarize_run``: the slopes and errors the gate computes."""
    rng = np.random.default_rng((seed, size, int(heap_leak), int(rss_leak), *floors.encode()))
    return tuple(summarize_run(floor_record(rng, floors, heap_leak, rss_leak)) for _ in range(size))


@dataclass(frozen=True)
class Peaks:
    """Per-run peaks: lognormal around a level (sd 0 is deterministic, a few bytes of
    jitter now and then, as memray sees it), on a second level ``odd`` times higher in a
    share ``odd_share`` of runs (heap and RSS together: a resize, a collection at an
    unlucky moment)."""

    heap: float = 50 * MiB
    heap_sd: float = 0.01
    rss: float = 200 * MiB
    rss_sd: float = 0.03
    odd_share: float = 0.0
    odd: float = 1.08

    def draw(self, rng: np.random.Generator, heap_shift: float, rss_shift: float) -> tuple[float, float]:
        odd = self.odd if self.odd_share and rng.random() < self.odd_share else 1.0
        heap = self.heap * odd * (1 + heap_shift)
        heap = heap * math.exp(rng.normal(0.0, self.heap_sd)) if self.heap_sd else heap + _bytes_jitter(rng)
        rss = self.rss * odd * (1 + rss_shift) * math.exp(rng.normal(0.0, self.rss_sd))
        return heap, rss


def _bytes_jitter(rng: np.random.Generator) -> float:
    return float(rng.integers(-8, 9)) if rng.random() < 0.2 else 0.0


@dataclass(frozen=True)
class Model:
    """A noise model: how the baseline's runs and the current runs scatter when nothing
    changed (the current machine may be noisier)."""

    key: str
    name: str
    floors: str
    peaks: Peaks = Peaks()
    current_floors: str | None = None
    current_peaks: Peaks | None = None

    @property
    def now_floors(self) -> str:
        return self.current_floors or self.floors

    @property
    def now_peaks(self) -> Peaks:
        return self.current_peaks or self.peaks


@dataclass(frozen=True)
class Effect:
    """A change in the current runs: peaks up by a share, floors rising by bytes a call."""

    key: str
    name: str
    heap_shift: float = 0.0
    rss_shift: float = 0.0
    heap_leak: float = 0.0
    rss_leak: float = 0.0


def _two_level(share: float) -> Peaks:
    """``test_verdict._two_level_false_alarms``' peaks: a deterministic 20 MiB heap peak and
    150 MiB of RSS with 3% noise, both +8% in ``share`` of the runs."""
    return Peaks(heap=20 * MiB, heap_sd=0.0, rss=150 * MiB, rss_sd=0.03, odd_share=share)


MODELS: tuple[Model, ...] = (
    Model("gaussian", "Gaussian floors", "gaussian"),
    Model("t-tails", "t(2) floors", "t-tails"),
    Model("ar-0.6", "AR(1) 0.6 floors", "ar-0.6"),
    Model("ar-0.9", "AR(1) 0.9 floors", "ar-0.9"),
    Model("toggles-10", "1 MiB RSS toggles /10 calls", "toggles-10", Peaks(heap_sd=0.0)),
    Model("toggles-33", "1 MiB RSS toggles /33 calls", "toggles-33", Peaks(heap_sd=0.0)),
    Model("odd-1/10", "odd share 1/10 (+8%)", "gaussian", _two_level(0.1)),
    Model("odd-1/3", "odd share 1/3 (+8%)", "gaussian", _two_level(1 / 3)),
    Model("odd-1/2", "odd share 1/2 (+8%)", "gaussian", _two_level(0.5)),
    Model(
        "noisier-4x",
        "4x noisier machine (RSS)",
        "gaussian",
        Peaks(rss_sd=0.02),
        current_floors="gaussian-4x",
        current_peaks=Peaks(rss_sd=0.08),
    ),
)

EFFECTS: tuple[Effect, ...] = (
    Effect("peak+5%", "peak +5%", heap_shift=0.05, rss_shift=0.05),
    Effect("peak+7%", "peak +7%", heap_shift=0.07, rss_shift=0.07),
    Effect("peak+20%", "peak +20%", heap_shift=0.20, rss_shift=0.20),
    Effect("rss-peak+20%", "RSS peak +20% (native)", rss_shift=0.20),
    Effect("leak-256", "heap 256 B/call", heap_leak=256.0),
    Effect("leak-1k", "heap 1 KiB/call", heap_leak=1024.0),
    Effect("rss-leak-32k", "RSS 32 KiB/call (native)", rss_leak=32 * KiB),
)


def draw(run: RunSummary, peaks: Peaks, rng: np.random.Generator, effect: Effect | None) -> RunSummary:
    """A pool run with peaks drawn afresh (and shifted by ``effect``)."""
    heap, rss = peaks.draw(rng, effect.heap_shift if effect else 0.0, effect.rss_shift if effect else 0.0)
    return replace(
        run,
        peak_heap_bytes=int(heap + run.peak_heap_bytes),
        peak_rss_bytes=int(rss + run.peak_rss_bytes),
    )
