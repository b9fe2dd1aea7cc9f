"""The whole adaptive procedure's false-alarm rates, power and runs, measured by simulation.

Each trial draws a baseline of 6 runs and a stream of 16 current runs (8, and the
confirming runs that may follow the last look) (``_simulated.py``:
floors through the gate's own estimators, peaks drawn afresh) and runs the gate's loop on
them, ``schedule.run_until_settled`` with ``verdict.decide`` at looks 1, 2, 4 and 8, a
regression confirmed by 2 runs and futility stops, with the policy a session of S
scenarios uses (``Policy.for_session``, as ``planning.py`` builds it). The cheap first
look is left out: it only screens, the full runs judge. A suite's size changes only the
levels, so every trial is judged at S = 1, 10 and 200 on the same runs.

    python benchmarks/calibration.py                 # about 21 minutes of CPU on one core
    python benchmarks/calibration.py --quick         # about 1.5 minutes of CPU, a check (no file)
    python benchmarks/calibration.py --only odd-1/3 --trials 50000

Writes benchmarks/RESULTS-calibration.md (a full run; ``--out`` for another file).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:  # for ``_simulated``, without shadowing anything
    sys.path.append(str(BENCH_DIR))

from _simulated import EFFECTS, MODELS, Effect, Model, draw, fit_pool  # noqa: E402
from scipy import stats as scipy_stats  # noqa: E402

from pytest_memgate.config import GateConfig  # noqa: E402
from pytest_memgate.marker import ScenarioSpec  # noqa: E402
from pytest_memgate.model import RunSummary  # noqa: E402
from pytest_memgate.results import Outcome, Verdict  # noqa: E402
from pytest_memgate.schedule import CONFIRM_BEYOND, look_schedule, run_until_settled  # noqa: E402
from pytest_memgate.verdict import Policy, decide  # noqa: E402

SUITES = (1, 10, 200)
CONFIG = GateConfig()
LOOKS = look_schedule(CONFIG.runs, CONFIG.max_runs, first=CONFIG.min_runs)
CONFIRM = CONFIG.runs  # as ``GateSession`` hands it to ``Measurement``
BASELINE_RUNS = CONFIG.baseline_runs
SPEC = ScenarioSpec()
RESULTS = BENCH_DIR / "RESULTS-calibration.md"


def policies(suites: Sequence[int] = SUITES) -> dict[int, Policy]:
    """The policy of a session of S scenarios, as ``planning.GatePlan.policy`` builds it."""
    return {s: Policy.for_session(CONFIG, s, len(LOOKS)) for s in suites}


@dataclass
class Tally:
    """Outcomes of one (model, effect, S) cell."""

    trials: int = 0
    outcomes: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))
    runs: int = 0
    metrics: dict[str, int] = field(default_factory=dict)  # regressed metric -> trials

    def add(self, verdict: Verdict, runs: int) -> None:
        self.trials += 1
        self.outcomes[verdict.outcome] += 1
        self.runs += runs
        if verdict.outcome is Outcome.REGRESSION:
            for f in verdict.findings:
                if f.regressed:
                    self.metrics[f.metric.value] = self.metrics.get(f.metric.value, 0) + 1

    def share(self, outcome: Outcome) -> float:
        return self.outcomes[outcome] / self.trials if self.trials else float("nan")

    @property
    def mean_runs(self) -> float:
        return self.runs / self.trials if self.trials else float("nan")


Pools = dict[tuple[str, float, float], tuple[RunSummary, ...]]


def _pool(pools: Pools, floors: str, effect: Effect | None, size: int, seed: int) -> tuple[RunSummary, ...]:
    heap_leak = effect.heap_leak if effect else 0.0
    rss_leak = effect.rss_leak if effect else 0.0
    key = (floors, heap_leak, rss_leak)
    if key not in pools:
        pools[key] = fit_pool(floors, size, seed, heap_leak, rss_leak)
    return pools[key]


def trial(
    rng: np.random.Generator,
    model: Model,
    effect: Effect | None,
    base_pool: Sequence[RunSummary],
    current_pool: Sequence[RunSummary],
    levels: dict[int, Policy],
) -> dict[int, tuple[Verdict, int]]:
    """One baseline and one stream of current runs, judged by the gate's loop at each S."""
    later = LOOKS[-1] * CONFIRM_BEYOND  # confirming runs may go past the last look
    if base_pool is current_pool:  # distinct runs on both sides
        picked = rng.choice(len(base_pool), BASELINE_RUNS + later, replace=False)
        base_idx, cur_idx = picked[:BASELINE_RUNS], picked[BASELINE_RUNS:]
    else:
        base_idx = rng.choice(len(base_pool), BASELINE_RUNS, replace=False)
        cur_idx = rng.choice(len(current_pool), later, replace=False)
    baseline = [draw(base_pool[i], model.peaks, rng, None) for i in base_idx]
    stream = [draw(current_pool[i], model.now_peaks, rng, effect) for i in cur_idx]
    judged = {}
    for suite, policy in levels.items():
        runs = iter(stream)

        def take(runs: Iterator[RunSummary] = runs) -> RunSummary:
            return next(runs)

        def judge(taken: Sequence[RunSummary], final: bool, policy: Policy = policy) -> Verdict:
            return decide(taken, baseline, SPEC, policy, final=final)

        current, verdict = run_until_settled(take, LOOKS, judge, confirm=CONFIRM)
        judged[suite] = (verdict, len(current))
    return judged


@dataclass
class Grid:
    """Every cell's tally: (model key, effect key or "" for no change, S) -> Tally."""

    cells: dict[tuple[str, str, int], Tally] = field(default_factory=dict)
    models: list[Model] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    suites: tuple[int, ...] = SUITES
    seconds: float = 0.0
    cpu_seconds: float = 0.0


def run_grid(
    models: Sequence[Model],
    effects: Sequence[Effect],
    *,
    trials: int,
    power_trials: int,
    pool_size: int,
    leak_pool_size: int,
    seed: int,
    suites: Sequence[int] = SUITES,
    progress: Callable[[str], None] = lambda line: None,
) -> Grid:
    """False alarms (``trials`` per model) and power (``power_trials`` per model and effect)."""
    start, cpu = time.perf_counter(), time.process_time()
    levels = policies(suites)
    grid = Grid(models=list(models), effects=list(effects), suites=tuple(suites))
    pools: Pools = {}
    for m, model in enumerate(models):
        base_pool = _pool(pools, model.floors, None, pool_size, seed)
        cases: list[tuple[Effect | None, int]] = [(None, trials)] + [(e, power_trials) for e in effects]
        for e, (effect, count) in enumerate(cases):
            leaks = effect is not None and (effect.heap_leak or effect.rss_leak)
            size = leak_pool_size if leaks else pool_size
            current_pool = _pool(pools, model.now_floors, effect, size, seed)
            rng = np.random.default_rng((seed, m, e))
            tallies = {
                s: grid.cells.setdefault((model.key, effect.key if effect else "", s), Tally())
                for s in suites
            }
            for _ in range(count):
                for suite, (verdict, runs) in trial(
                    rng, model, effect, base_pool, current_pool, levels
                ).items():
                    tallies[suite].add(verdict, runs)
            name = effect.key if effect else "unchanged"
            progress(f"{model.key} {name}: {count} trials, {time.perf_counter() - start:.0f} s")
    grid.seconds = time.perf_counter() - start
    grid.cpu_seconds = time.process_time() - cpu
    return grid


def upper_bound(hits: int, trials: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound of a rate seen ``hits`` times in ``trials``."""
    if hits >= trials:
        return 1.0
    return float(scipy_stats.beta.ppf(confidence, hits + 1, trials - hits))


def _rate(x: float) -> str:
    return "0" if x == 0 else f"{x:.1e}"


def false_alarm_table(grid: Grid, alpha: float = CONFIG.alpha) -> list[str]:
    lines = [
        "| noise model | S | budget alpha/S | false alarms | rate | 95% upper | rate / budget "
        "| upper / budget | by metric | inconclusive | mean runs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for model in grid.models:
        for suite in grid.suites:
            t = grid.cells[model.key, "", suite]
            hits = t.outcomes[Outcome.REGRESSION]
            budget = alpha / suite
            rate, up = hits / t.trials, upper_bound(hits, t.trials)
            by = ", ".join(f"{k} {v}" for k, v in sorted(t.metrics.items())) or "-"
            lines.append(
                f"| {model.name} | {suite} | {budget:.0e} | {hits}/{t.trials} | {_rate(rate)} | {up:.1e} "
                f"| {rate / budget:.2f} | {up / budget:.2f} | {by} | {t.share(Outcome.INCONCLUSIVE):.1%} "
                f"| {t.mean_runs:.2f} |"
            )
    return lines


def power_table(grid: Grid) -> list[str]:
    head = (
        "| noise model | change | "
        + " | ".join(f"S={s} caught | inconcl. | runs" for s in grid.suites)
        + " |"
    )
    lines = [head, "|---|---|" + "---:|---:|---:|" * len(grid.suites)]
    for model in grid.models:
        for effect in grid.effects:
            cells = []
            for suite in grid.suites:
                t = grid.cells[model.key, effect.key, suite]
                caught, unclear = t.share(Outcome.REGRESSION), t.share(Outcome.INCONCLUSIVE)
                cells.append(f"{caught:.1%} | {unclear:.1%} | {t.mean_runs:.2f}")
            lines.append(f"| {model.name} | {effect.name} | " + " | ".join(cells) + " |")
    return lines


def over_budget(grid: Grid, alpha: float = CONFIG.alpha) -> list[str]:
    """The cells whose measured false-alarm rate is past the per-scenario budget."""
    found = []
    for model in grid.models:
        for suite in grid.suites:
            t = grid.cells[model.key, "", suite]
            hits = t.outcomes[Outcome.REGRESSION]
            if hits and hits / t.trials > alpha / suite:
                found.append(f"{model.name} at S={suite}: {hits / t.trials / (alpha / suite):.1f}x")
    return found


def render(grid: Grid, header: Sequence[str] = ()) -> str:
    over = over_budget(grid)
    parts = [
        *header,
        "## False alarms: unchanged scenarios",
        "",
        "A false alarm is a regression verdict on an unchanged scenario; the budget is one",
        "scenario's share of the session's alpha = 0.01. The 95% upper bound is one-sided",
        "Clopper-Pearson. Mean runs and the inconclusive share are over the same trials.",
        "",
        *false_alarm_table(grid),
        "",
        "Past the budget: " + ("; ".join(over) if over else "none measured") + ".",
        "",
        "## Power: real changes",
        "",
        "Caught: a regression verdict; inconclusive: unclear after 8 runs; runs: mean runs taken.",
        "",
        *power_table(grid),
        "",
    ]
    return "\n".join(parts)


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=BENCH_DIR, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=20_000, help="unchanged trials per noise model")
    parser.add_argument("--power-trials", type=int, default=400, help="trials per noise model and change")
    parser.add_argument("--pool", type=int, default=800, help="fitted runs per unchanged floor model")
    parser.add_argument("--leak-pool", type=int, default=250, help="fitted runs per leaking floor model")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--only", nargs="+", metavar="MODEL", help=f"noise models: {[m.key for m in MODELS]}")
    parser.add_argument("--quick", action="store_true", help="a check of about 2 minutes; writes no file")
    parser.add_argument("--out", type=Path, help=f"where to write the tables (default {RESULTS.name})")
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.power_trials, args.pool, args.leak_pool = 1000, 40, 150, 60
    models = [m for m in MODELS if not args.only or m.key in args.only]
    if not models:
        parser.error(f"no such noise model: {args.only}")
    load, commit = os.getloadavg()[0], _git_commit()
    grid = run_grid(
        models,
        EFFECTS,
        trials=args.trials,
        power_trials=args.power_trials,
        pool_size=args.pool,
        leak_pool_size=args.leak_pool,
        seed=args.seed,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    header = [
        "# Calibration of the adaptive procedure",
        "",
        f"`python benchmarks/calibration.py {argv_text}`".replace(" `", "`"),
        f"(commit {commit}, seed {args.seed}): {args.trials:,} unchanged trials per noise model,",
        f"{args.power_trials:,} per change; pools of {args.pool:,} fitted runs ({args.leak_pool:,} leaking);",
        f"{grid.seconds / 60:.1f} min wall, {grid.cpu_seconds / 60:.1f} min of CPU on one core; load"
        f" {load:.1f} at the start and {os.getloadavg()[0]:.1f} at the end (2 cores, shared).",
        f"Looks {LOOKS}, confirm {CONFIRM}, baseline {BASELINE_RUNS} runs, policies from",
        "`Policy.for_session(GateConfig(), S, 4)`; the cheap first look is not part of it.",
        "",
    ]
    text = render(grid, header)
    print(text)
    out = args.out if args.out is not None else (None if args.quick else RESULTS)
    if out is not None:
        out.write_text(text)
        print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
