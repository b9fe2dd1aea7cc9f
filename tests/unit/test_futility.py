"""Futility stops, on simulated runs with a known truth: what they save and what they cost.

An unchanged scenario whose RSS slopes scatter (a loaded machine) keeps an interval that
reaches the 16 KiB/call tolerance for many runs although its estimate sits near zero; the
gate used to spend all eight runs on it. A futility stop ends such runs as a pass once
``Policy.futility_runs`` runs are in and every open estimate is under a quarter of its
practical size. It can only turn a would-be regression into a pass (never the reverse), so the
false-alarm rate cannot rise; what it costs is power, measured here beside what it saves.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from pytest_memgate.config import GateConfig
from pytest_memgate.marker import ScenarioSpec
from pytest_memgate.model import RunSummary
from pytest_memgate.reports.words import note_text
from pytest_memgate.results import Note, NoteKind, Outcome
from pytest_memgate.schedule import look_schedule, run_until_settled, stopped_for_futility
from pytest_memgate.stats import bonferroni
from pytest_memgate.verdict import COMPARISONS, Policy, decide

pytestmark = pytest.mark.calibration

MiB = 1024**2
KiB = 1024
ALPHA = 0.01
CONFIRM = 2
LOOKS = look_schedule(CONFIRM, 8, first=1)
SPEC = ScenarioSpec()
WITHOUT = Policy(alpha=bonferroni(ALPHA, COMPARISONS * len(LOOKS)), looks=len(LOOKS))
WITH = replace(WITHOUT, futility_runs=CONFIRM)


def loaded_rss(leak: float = 0.0):  # type: ignore[no-untyped-def]
    """A deterministic heap beside RSS slopes that scatter by 10 KiB/call from run to run,
    each run's own error about as large: what a loaded machine's floors look like."""

    def make(rng: np.random.Generator) -> RunSummary:
        return RunSummary(
            peak_heap_bytes=20 * MiB,
            peak_rss_bytes=int(60 * MiB * math.exp(rng.normal(0, 0.01))),
            heap_growth=0.0,
            heap_growth_se=0.0,
            rss_growth=float(rng.normal(leak, 10 * KiB)),
            rss_growth_se=abs(float(rng.normal(10 * KiB, 1 * KiB))),
        )

    return make


def procedure(policy: Policy, leak: float, trials: int, seed: int) -> tuple[dict[Outcome, int], float]:
    """Outcome counts and mean runs of the session's loop over ``trials`` scenarios. Each
    trial draws from its own stream, so two policies see the same runs (a paired comparison)."""
    base, make = loaded_rss(), loaded_rss(leak)
    counts = dict.fromkeys(Outcome, 0)
    runs_taken = 0
    for trial in range(trials):
        rng = np.random.default_rng((seed, trial))
        baseline = [base(rng) for _ in range(6)]
        runs, verdict = run_until_settled(
            lambda rng=rng: make(rng),
            LOOKS,
            lambda current, final, baseline=baseline: decide(current, baseline, SPEC, policy, final=final),
            confirm=CONFIRM,
        )
        counts[verdict.outcome] += 1
        runs_taken += len(runs)
    return counts, runs_taken / trials


def test_the_gate_policy_stops_for_futility_after_its_confirming_runs() -> None:
    policy = Policy.from_config(GateConfig(), tests=COMPARISONS * len(LOOKS))
    assert policy.futility_runs == GateConfig().runs == CONFIRM


def test_futility_saves_runs_on_unchanged_scenarios_and_raises_no_false_alarm() -> None:
    """400 unchanged scenarios each way, the same runs for both. Measured: mean runs 5.54
    without, 3.22 with; no false regression either way."""
    without, runs_without = procedure(WITHOUT, 0.0, 400, seed=5)
    with_, runs_with = procedure(WITH, 0.0, 400, seed=5)
    assert with_[Outcome.REGRESSION] / 400 <= ALPHA
    assert without[Outcome.REGRESSION] / 400 <= ALPHA
    assert runs_with <= 3.5
    assert runs_without - runs_with >= 2.0


@pytest.mark.parametrize("leak", [24 * KiB, 32 * KiB])
def test_futility_costs_little_power_on_real_growth(leak: float) -> None:
    """RSS growth 1.5x and 2x the 16 KiB/call tolerance in that noise, 300 trials each way on
    the same runs. Measured: 24 KiB/call caught in 124 trials without and 124 with, 32 KiB/call
    in 251 and 251. A leak whose first two runs both read under 4 KiB/call is what a futility
    stop gives up; here the later looks would not have proven those either."""
    without, _ = procedure(WITHOUT, leak, 300, seed=11)
    with_, _ = procedure(WITH, leak, 300, seed=11)
    assert with_[Outcome.REGRESSION] <= without[Outcome.REGRESSION]  # paired: never more
    assert (without[Outcome.REGRESSION] - with_[Outcome.REGRESSION]) / 300 <= 0.02


def test_a_futility_stop_is_noted_with_its_runs() -> None:
    rng = np.random.default_rng(3)
    base = loaded_rss()
    for _ in range(50):
        baseline = [base(rng) for _ in range(6)]
        runs, verdict = run_until_settled(
            lambda: base(rng),
            LOOKS,
            lambda current, final, baseline=baseline: decide(current, baseline, SPEC, WITH, final=final),
            confirm=CONFIRM,
        )
        if stopped_for_futility(verdict, len(runs), LOOKS):
            break
    else:
        pytest.fail("no futility stop in 50 unchanged scenarios")
    assert verdict.outcome in (Outcome.PASS, Outcome.IMPROVED)
    assert not verdict.needs_more_runs
    assert len(runs) == CONFIRM
    text = note_text(Note(NoteKind.FUTILITY, count=len(runs), wanted=LOOKS[-1]))
    assert text.startswith("passed after 2 of up to 8 runs")


def test_a_suspected_increase_is_never_futile() -> None:
    """An estimate past its tolerance keeps asking for runs, futility or not."""
    baseline = [RunSummary(20 * MiB, 60 * MiB, 0.0, 0.0, 0.0, 6 * KiB) for _ in range(6)]
    current = [RunSummary(20 * MiB, 60 * MiB, 0.0, 0.0, 20 * KiB, 40 * KiB) for _ in range(2)]
    verdict = decide(current, baseline, SPEC, WITH, final=False)
    assert verdict.needs_more_runs
