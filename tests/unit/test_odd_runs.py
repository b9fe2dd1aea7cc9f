"""One odd run in the baseline, on simulated runs with a known truth, through the session's
own loop (``run_until_settled`` with ``decide``) and policies.

A scenario whose peak is 8% higher in one run in ten often records a baseline with one
such run. Counted in the t-test's spread, that run hid real +5% and +7% peaks and kept
unchanged scenarios ambiguous for more runs; left out of it (``stats.odd_run``), it must
still count where it belongs: in how often runs land that high (``stats.unseen_level``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
from test_verdict import BASELINE_RUNS, Make, MiB, adaptive, odd_levels, session_policy, summary

from pytest_memgate.model import RunSummary
from pytest_memgate.reports.words import finding_text
from pytest_memgate.results import Metric, Outcome
from pytest_memgate.verdict import Policy, compare_runs

ODD = 1.08  # ``odd_levels``: one run in ten 8% higher, heap and RSS alike


def _shifted(shift: float) -> Make:
    """``odd_levels``'s heap peak moved by ``shift``."""

    def make(rng: np.random.Generator) -> RunSummary:
        s = odd_levels(rng)
        return replace(s, peak_heap_bytes=int(s.peak_heap_bytes * (1 + shift)))

    return make


def _run_at(rng: np.random.Generator, level: float) -> RunSummary:
    """An ``odd_levels`` run on ``level`` (1.0 or ``ODD``)."""
    return summary(
        20 * MiB * level,
        peak_rss=150 * MiB * level * math.exp(rng.normal(0, 0.03)),
        rss_growth=float(rng.normal(0, 300)),
        rss_se=300.0,
    )


def _odd_run_baseline(rng: np.random.Generator) -> list[RunSummary]:
    """Six baseline runs of ``odd_levels``, the last on the odd level (a baseline of six
    shows exactly one odd run in 35% of sessions)."""
    return [_run_at(rng, level) for level in [1.0] * (BASELINE_RUNS - 1) + [ODD]]


# --- power ----------------------------------------------------------------------------------


@pytest.mark.calibration
@pytest.mark.parametrize(
    ("shift", "scenarios", "trials", "least"),
    [(0.05, 1, 300, 0.7), (0.07, 1, 300, 0.78), (0.05, 200, 400, 0.26)],
)
def test_power_with_odd_runs_in_the_baseline(shift: float, scenarios: int, trials: int, least: float) -> None:
    """Real +5% and +7% heap peaks of a scenario with one run in ten 8% higher (seed 3).
    With an odd baseline run (in 47% of baselines) in the t-test's spread, 1,000 trials at
    seeds 3 and 4: 50-55% and 69-73% caught at one scenario, 27-29% at 200. Left out of it:
    83-84% and 89-90%, and 42-45% at 200 while odd levels were taken to occur in at most
    2 of 8 runs. Bounded over every share of the odd level (``stats.odd_share_p``), as
    measured at seed 3: 80% and 86%, and 33-34% at 200 (runs as high as a seen odd run would
    take 22 runs there, and such trials end inconclusive). About 1% pass: baselines with
    three or more odd runs of six, whose median is the odd level."""
    policy = session_policy(scenarios)
    rng = np.random.default_rng(3)
    outcomes = []
    for _ in range(trials):
        baseline = [_shifted(0.0)(rng) for _ in range(BASELINE_RUNS)]
        outcomes.append(adaptive(rng, baseline, _shifted(shift), policy=policy)[0].outcome)
    caught = outcomes.count(Outcome.REGRESSION) / trials
    assert caught >= least, f"{caught:.3f}"
    assert outcomes.count(Outcome.PASS) / trials <= 0.02


# --- false alarms ---------------------------------------------------------------------------


def _forced_odd_baseline(policy: Policy, trials: int, seed: int) -> int:
    """Regressions of an unchanged ``odd_levels`` scenario whose baseline showed the odd
    level once and whose first two current runs both land on it."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(trials):
        forced = iter([ODD, ODD])

        def make(rng: np.random.Generator, forced: Iterator[float] = forced) -> RunSummary:
            return _run_at(rng, next(forced, ODD if rng.random() < 0.1 else 1.0))

        verdict, _ = adaptive(rng, _odd_run_baseline(rng), make, policy=policy)
        hits += verdict.outcome is Outcome.REGRESSION
    return hits


@pytest.mark.calibration
def test_an_odd_baseline_run_does_not_make_odd_levels_evidence() -> None:
    """The odd baseline run is out of the t-test's spread, so two current runs on its level
    are significant; odd runs must still be ruled out, at the rate of a level the baseline
    showed once in 6 (2 in 8): 5 runs for one scenario (P = 0.1**3 that the next three are
    odd too: expected 0.2 of 200), none within 8 for 200 scenarios. Measured: 0 of 200 each.
    Taken for a level the baseline never showed (1 in 8), 3 runs would do for one scenario
    and 17 of these 200 fail (measured). The false-alarm rate per scenario is then
    P(one odd baseline run) x 0.1**2 x hits / trials: 0.354 x 0.01 x 1e-3 = 3.5e-6."""
    assert _forced_odd_baseline(session_policy(1), 200, seed=22) <= 2
    assert _forced_odd_baseline(session_policy(200), 200, seed=23) == 0


def _two_level_false_alarms(share: float, policy: Policy, trials: int, seed: int) -> int:
    """Regressions of an unchanged scenario whose peak is +8% in ``share`` of its runs,
    when its baseline showed the high level exactly once (probability
    ``6 * share * (1 - share)**5``)."""
    rng = np.random.default_rng(seed)

    def make(rng: np.random.Generator) -> RunSummary:
        return _run_at(rng, ODD if rng.random() < share else 1.0)

    return sum(
        adaptive(rng, _odd_run_baseline(rng), make, policy=policy)[0].outcome is Outcome.REGRESSION
        for _ in range(trials)
    )


@pytest.mark.calibration
@pytest.mark.parametrize(("share", "scenarios", "most"), [(1 / 3, 1, 17), (1 / 3, 200, 0), (0.1, 1, 1)])
def test_false_alarms_of_two_level_peaks_with_an_odd_baseline_run(
    share: float, scenarios: int, most: int
) -> None:
    """The path the odd baseline run's exclusion opens, 1,000 trials each (about 5 s at a
    share of 1/3, idle). Rule of succession: runs as high as the one odd baseline run are taken to
    occur in at most 2 of 8. A share of 1/3 is above that: measured 27 of 6,000 at one
    scenario (seeds 31, 32), times P(one odd run in 6) = 0.263, 1.2e-3 per scenario (0.12x
    its budget of 0.01; 1 of 6,000 with the odd run in the spread); at 200 scenarios none
    (runs as high as the odd one cannot be confirmed within 8 runs, and mixed runs never
    reach 3.1e-6). At a share of 1/10, none of 6,000 at 1, 10 or 200 scenarios. Bounds:
    ``most`` hits, about 4 binomial sd above the measured rate (17 of 1,000 at a share of
    1/3 would be 0.45x the budget)."""
    hits = _two_level_false_alarms(share, session_policy(scenarios), 1000, seed=31 + scenarios)
    assert hits <= most, f"{hits} of 1000"


def _two_level_rate(share: float, policy: Policy, trials: int, seed: int) -> tuple[float, list[int]]:
    """False regressions per unchanged scenario whose peak sits on a +8% level in
    ``share`` of its runs, through the session's loop: trials with baselines that showed
    the level never and exactly once, weighted by how often a baseline of six does. A
    baseline that showed it twice or more keeps both levels in its spread, where the t-test
    alone judges (the calibration benchmark runs every baseline)."""
    rng = np.random.default_rng(seed)

    def make(rng: np.random.Generator) -> RunSummary:
        return _run_at(rng, ODD if rng.random() < share else 1.0)

    baselines = {
        0: lambda: [_run_at(rng, 1.0) for _ in range(BASELINE_RUNS)],
        1: lambda: _odd_run_baseline(rng),
    }
    hits = [
        sum(
            adaptive(rng, baselines[m](), make, policy=policy)[0].outcome is Outcome.REGRESSION
            for _ in range(trials)
        )
        for m in (0, 1)
    ]
    weights = [math.comb(BASELINE_RUNS, m) * share**m * (1 - share) ** (BASELINE_RUNS - m) for m in (0, 1)]
    return sum(w * h / trials for w, h in zip(weights, hits)), hits


@pytest.mark.calibration
@pytest.mark.parametrize(("share", "scenarios"), [(1 / 3, 10), (0.5, 10), (0.5, 200)])
def test_two_level_peaks_stay_within_one_scenarios_budget(share: float, scenarios: int) -> None:
    """Item 2 of the statistics audit: with odd levels assumed to come in at most 1 of n + 2
    runs, a second level in a third or half of the runs ran at 1.4-3x one scenario's budget
    (alpha / S) at 10 and 200 scenarios; by exact binomials 1.45x and 2.4x at 10 scenarios
    and 4.9x at 200 along these two paths. The bound over every share (``odd_share_p``)
    needs 6 runs on the level at 10 scenarios and 12 at 200 (confirming runs past the last
    look), which puts these paths at 0.12x, 0.29x and 0.08x by exact binomials. 500 trials
    per path; measured with 1,000 (seeds 51, 51, 241): 0.09x, 0.31x and 0; the old rule
    2.1x, 3.1x and 4.1x."""
    policy = session_policy(scenarios)
    rate, hits = _two_level_rate(share, policy, 500, seed=41 + scenarios)
    assert rate <= 0.01 / scenarios, f"{rate:.2e} per scenario ({hits} of 500 per path)"


# --- runs taken -----------------------------------------------------------------------------


@pytest.mark.calibration
@pytest.mark.parametrize("scenarios", [1, 200])
def test_an_odd_baseline_run_does_not_keep_unchanged_scenarios_running(scenarios: int) -> None:
    """Unchanged ``odd_levels`` scenarios whose baseline showed one odd run, 600 trials (seed
    5). With that run in the heap peak's spread, the heap peak's interval reached past the
    3% tolerance after one run every time: none stopped there, 2.54-2.64 runs on average
    (1,000 trials at seeds 5-7). Left out: 37-40% stop after one run, 2.22-2.35 runs on
    average (1.87-1.98 when the baseline showed no odd run: the odd run is in the RSS peak's
    3% noise too, where it is no outlier, and widens that interval). No false regression."""
    policy = session_policy(scenarios)
    rng = np.random.default_rng(5)
    results = [adaptive(rng, _odd_run_baseline(rng), _shifted(0.0), policy=policy) for _ in range(600)]
    runs = np.array([taken for _, taken in results])
    assert not any(v.outcome is Outcome.REGRESSION for v, _ in results)
    assert np.mean(runs == 1) >= 0.3, f"{np.mean(runs == 1):.3f}"
    assert np.mean(runs) <= 2.45, f"{np.mean(runs):.2f}"


# --- deterministic increases ----------------------------------------------------------------


# The detection benchmark's buffered_fanout, recorded: heap peaks of a baseline of `before`
# that showed one odd run (+24%), and of `after` (the whole 6 MiB body joined).
FANOUT_BASELINE = (171228, 138378, 138322, 138450, 138378, 138450)
FANOUT_AFTER = 12634885


@pytest.mark.parametrize(
    ("baseline_peaks", "current", "scenarios", "runs", "outcome"),
    [
        # far above the odd run: a level the baseline never showed
        ((20 * MiB,) * 5 + (21.6 * MiB,), 26 * MiB, 1, 4, Outcome.REGRESSION),
        ((20 * MiB,) * 5 + (21.6 * MiB,), 26 * MiB, 10, 6, Outcome.REGRESSION),
        ((20 * MiB,) * 5 + (21.6 * MiB,), 26 * MiB, 200, 12, Outcome.REGRESSION),
        (FANOUT_BASELINE, FANOUT_AFTER, 1, 4, Outcome.REGRESSION),
        (FANOUT_BASELINE, FANOUT_AFTER, 200, 12, Outcome.REGRESSION),
        # +5%, under the odd run's level: as high as a run seen once in 6
        ((20 * MiB,) * 5 + (21.6 * MiB,), 21 * MiB, 1, 6, Outcome.REGRESSION),
        ((20 * MiB,) * 5 + (21.6 * MiB,), 21 * MiB, 10, 11, Outcome.REGRESSION),
        ((20 * MiB,) * 5 + (21.6 * MiB,), 21 * MiB, 200, 8, Outcome.INCONCLUSIVE),
    ],
)
def test_a_deterministic_increase_above_an_odd_baseline_run(
    baseline_peaks: tuple[float, ...], current: float, scenarios: int, runs: int, outcome: Outcome
) -> None:
    """A clear regression far above the baseline's odd run takes the runs a jump to an
    unseen level takes, whatever share of runs such a level may have (``odd_share_p``): 4
    for one scenario, 6 for 10, 12 for 200, past the last look (8), as buffered_fanout's
    recorded numbers do. An increase to under the odd run's level, which the baseline
    showed once, takes 6 and 11; for 200 scenarios it would take 22, more than the
    confirming runs may (16), and ends inconclusive at the last look."""
    baseline = [summary(p) for p in baseline_peaks]
    verdict, taken = adaptive(
        np.random.default_rng(0), baseline, lambda rng: summary(current), policy=session_policy(scenarios)
    )
    assert (verdict.outcome, taken) == (outcome, runs)


def test_confirming_runs_past_the_last_look_stop_when_a_run_lands_back() -> None:
    """200 scenarios: a jump to 26 MiB needs 12 runs on its level. When the ninth lands
    back on the baseline's 20 MiB, the runs stop there and the last look's verdict stands:
    inconclusive, neither a regression nor a pass."""
    baseline = [summary(20 * MiB)] * BASELINE_RUNS
    peaks = iter([26 * MiB] * 8 + [20 * MiB] + [26 * MiB] * 7)
    verdict, taken = adaptive(
        np.random.default_rng(0), baseline, lambda rng: summary(next(peaks)), policy=session_policy(200)
    )
    assert (verdict.outcome, taken) == (Outcome.INCONCLUSIVE, 9)
    heap = next(f for f in verdict.findings if f.metric is Metric.HEAP_PEAK)
    assert heap.evidence.unseen_runs == 12
    assert "12 runs on that level in all confirm it" in finding_text(heap)


@pytest.mark.parametrize(
    ("current", "words"),
    [
        (21.6 * MiB, "as high as a run the baseline showed once"),
        (26 * MiB, "on a level the baseline never showed"),
    ],
)
def test_a_held_back_peak_says_whether_the_baseline_showed_its_level(current: float, words: str) -> None:
    baseline = [summary(p) for p in (20 * MiB,) * 5 + (21.6 * MiB,)]
    findings = compare_runs([summary(current)] * 2, baseline, session_policy(1))
    heap = next(f for f in findings if f.metric is Metric.HEAP_PEAK)
    assert heap.ambiguous and not heap.regressed
    assert words in finding_text(heap)
