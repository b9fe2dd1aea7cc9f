"""Mutation check of the calibration tests: each must be able to fail.

A false-alarm test passes trivially when the practical sizes hide the p-values, or when
its bound is loose. This script breaks the test statistic three ways (every p-value 0,
every standard error halved, every false-alarm rate doubled; ``_mutants.py``) and breaks
one rule at a time (the looks or the budgets left out of the Bonferroni count, a normal
approximation in the scaling test, the floors' Mann-Kendall p for growth budgets, an odd
baseline run counted in the peak test's spread, runs as high as it taken for a level the
baseline never showed), runs the calibration and false-alarm tests of
``tests/unit`` under each, and prints which tests each breakage makes fail. The unbroken
run must pass every test; each breakage of the statistic must be caught by at least one
test with the practical sizes on and one with them off, each broken rule by some test.

    python benchmarks/mutation.py            # about 10 minutes on 2 cores
    python benchmarks/mutation.py -n 2       # pytest-xdist workers per run
    python benchmarks/mutation.py --only no_looks trend_budget   # some mutants only
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = [
    "tests/unit/test_stats.py",
    "tests/unit/test_verdict.py",
    "tests/unit/test_scaling.py",
    "tests/unit/test_metrics.py",
    "tests/unit/test_odd_runs.py",
]
# The calibration and false-alarm tests: what must fail when the statistics are broken.
SELECT = (
    "calibrated or false_alarm or keeps_its_level or keeps_the_session_rate or odd_levels or noisier"
    " or autocorrelated or odd_runs_in_the_baseline or odd_baseline_run or drifting"
    " or two_level or odd_share or unseen_level"
)
# Breakages of the test statistic: each must be caught with the sizes on and with them off.
STATISTIC = ["p_zero", "half_error", "double_rate"]
# Breakages of one rule each (``_mutants.PATCHES``): each must be caught by some test.
RULES = [
    "no_looks",
    "budget_uncounted",
    "normal_scaling",
    "trend_budget",
    "unbounded_larger",
    "trend_warmup",
    "odd_in_spread",
    "odd_level_unseen",
    "odd_succession",
    "confirm_at_last_look",
]
MUTANTS = ["", *STATISTIC, *RULES]


def run(mutant: str, workers: int) -> tuple[dict[str, bool], float]:
    """Outcome (passed?) per test id under ``mutant`` ("" for the real statistics)."""
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        env = dict(os.environ, MEMGATE_MUTANT=mutant)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "benchmarks"), env.get("PYTHONPATH")]))
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            *FILES,
            "-k",
            SELECT,
            "-q",
            "-p",
            "_mutants",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
        ]
        if workers > 1:
            cmd += ["-n", str(workers)]
        start = time.perf_counter()
        subprocess.run(
            cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
        seconds = time.perf_counter() - start
        outcomes: dict[str, bool] = {}
        for case in ET.parse(junit).getroot().iter("testcase"):
            name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
            failed = case.find("failure") is not None or case.find("error") is not None
            if case.find("skipped") is None:
                outcomes[name] = not failed
        return outcomes, seconds


def sizes_off(test: str) -> bool:
    """Tests that judge with the practical sizes off (or test p-values directly)."""
    return "sizes_off" in test or "spread_more" in test or test.startswith("test_stats::")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1, help="pytest-xdist workers per run")
    parser.add_argument("--only", nargs="*", default=None, help="these mutants only (and the unbroken run)")
    args = parser.parse_args()
    results = {}
    chosen = MUTANTS if args.only is None else ["", *args.only]
    for mutant in chosen:
        outcomes, seconds = run(mutant, args.n)
        results[mutant or "none"] = outcomes
        failed = sum(not ok for ok in outcomes.values())
        print(
            f"{mutant or 'none':12} {len(outcomes):3} tests, {failed:3} failed ({seconds:.0f} s)", flush=True
        )
    tests = sorted(results["none"])
    names = list(results)
    width = max(len(t) for t in tests)
    print()
    print(f"{'test':{width}}  " + "  ".join(f"{n:>11}" for n in names))
    for test in tests:
        cells = ["pass" if results[n].get(test, False) else "FAIL" for n in names]
        print(f"{test:{width}}  " + "  ".join(f"{c:>11}" for c in cells))
    print()
    status = 0
    broken_baseline = [t for t in tests if not results["none"][t]]
    if broken_baseline:
        print(f"the real statistics fail {len(broken_baseline)} tests: {broken_baseline}")
        status = 1
    for mutant in names[1:]:
        killed_on = [t for t in tests if not results[mutant].get(t, False) and not sizes_off(t)]
        killed_off = [t for t in tests if not results[mutant].get(t, False) and sizes_off(t)]
        print(
            f"{mutant:12} caught by {len(killed_on):2} tests with the sizes on, {len(killed_off):2} "
            f"with them off or on p-values, of {len(tests)}"
        )
        if mutant in STATISTIC and (not killed_off or not killed_on):
            status = 1
        if not killed_off and not killed_on:
            status = 1
    print("every breakage caught" if status == 0 else "NOT every breakage caught")
    return status


if __name__ == "__main__":
    sys.exit(main())
