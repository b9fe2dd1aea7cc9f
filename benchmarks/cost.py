"""Cost benchmark: what ``pytest --memgate`` costs against the plain test run of the same calls.

For every pair of the detection corpus (``benchmarks/corpus``), in a fresh project:

1. *plain*: ``pytest`` (no ``--memgate``) of a test that loops the scenario's warmup +
   iterations calls, once per side: the reference a team pays anyway;
2. *record*: ``pytest --memgate --memgate-update`` on ``before`` (``baseline_runs`` runs),
   once per ``--jobs`` value, and with ``--reference DIR`` also with the pytest-memgate of
   that checkout (for example a worktree of the previous release) side by side;
3. *gate*: ``pytest --memgate`` on ``after`` against the baseline; its verdict and runs
   come from its JSON report;
4. *refresh*: ``pytest --memgate`` on ``before`` as a CI run on an update branch would run
   it (``GITHUB_ACTIONS``, ``update_branches = main``), against a copy of the baseline: what
   every release-branch refresh costs.

Every time is a whole process, start to exit. The table gives per pair: plain s, gate s,
gate ratio, runs, the refresh's seconds, ratio and runs, then the recording's seconds and
ratio for each setting. Below it, the median and 90th percentile ratios for clear passes,
regressions, refreshes and recordings, against the targets (a clear pass within 1.5x at
the median and 2x at the 90th percentile, a regression within 3x, a refresh within the
clear pass, a first recording within 3x). ``--load N`` keeps N busy processes running
beside it: a machine loaded to twice its cores is ``--load 4`` on 2 cores.

    python benchmarks/cost.py [--rounds 1] [--only NAME] [--jobs 2] [--reference DIR] [--load N]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from _runs import run_failure, timed_pytest  # noqa: E402
from corpus import NAMES, Pair, get_pair  # noqa: E402 - needs the path above
from detection import TEST_MODULE, machine, selected_pairs  # noqa: E402
from detection import _env as detection_env  # noqa: E402

DEFAULT_RESULTS = BENCH_DIR / "RESULTS-cost.md"
TIMEOUT_S = 3600.0
PASS_MEDIAN, PASS_P90, REGRESSION_TARGET, RECORD_TARGET = 1.5, 2.0, 3.0, 3.0
CI_BRANCH = {"GITHUB_ACTIONS": "true", "GITHUB_REF_NAME": "main", "GITHUB_HEAD_REF": ""}

# The plain run: the same fixture, the same calls, no --memgate.
PLAIN_MODULE = """\
import os

import pytest

from corpus import make_unit


@pytest.fixture
def unit():
    return make_unit(os.environ["MEMGATE_BENCH_PAIR"], os.environ["MEMGATE_BENCH_SIDE"])


def test_{name}_plain(unit):
    for _ in range({calls}):
        unit()
"""


@dataclass
class Recording:
    label: str  # "jobs 2", "reference", ...
    seconds: float
    ok: bool


@dataclass
class PairRound:
    plain_before_s: float
    plain_after_s: float
    gate_s: float
    verdict: str
    runs: int
    recordings: list[Recording] = field(default_factory=list)
    refresh_s: float = float("nan")
    refresh_runs: int = 0

    @property
    def ratio(self) -> float:
        return self.gate_s / self.plain_after_s

    @property
    def refresh_ratio(self) -> float:
        return self.refresh_s / self.plain_before_s

    def record_ratio(self, label: str) -> float | None:
        for r in self.recordings:
            if r.label == label and r.ok:
                return r.seconds / self.plain_before_s
        return None


def _env(pair: Pair, side: str, pythonpath: Path | None = None, ci: bool = False) -> dict[str, str]:
    """The detection benchmark's environment, with ``pythonpath`` (a reference checkout) first;
    ``ci``: as a CI run on the update branch ``main``, else as a run outside any CI."""
    from pytest_memgate.branches import CI_VARIABLES

    env = {k: v for k, v in detection_env(pair, side).items() if k not in CI_VARIABLES}
    if ci:
        env.update(CI_BRANCH)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env["PYTHONPATH"]])
    return env


def _timed(
    project: Path, pair: Pair, side: str, *args: str, pythonpath: Path | None = None, ci: bool = False
) -> tuple[subprocess.CompletedProcess[str], float]:
    return timed_pytest(args, cwd=project, env=_env(pair, side, pythonpath, ci), timeout=TIMEOUT_S)


def run_pair(pair: Pair, jobs: Sequence[int], reference: Path | None) -> PairRound:
    project = Path(tempfile.mkdtemp(prefix=f"memgate-cost-{pair.name}-"))
    try:
        (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
        (project / "test_scenario.py").write_text(
            TEST_MODULE.format(name=pair.name, iterations=pair.iterations, warmup=pair.warmup)
        )
        (project / "test_plain.py").write_text(
            PLAIN_MODULE.format(name=pair.name, calls=pair.warmup + pair.iterations)
        )
        plain = {}
        for side in ("before", "after"):
            done, seconds = _timed(project, pair, side, "test_plain.py")
            if done.returncode != 0:
                raise run_failure(f"the plain run of {side}", done)
            plain[side] = seconds
        baseline = project / "baseline.json"
        recordings = []
        settings: list[tuple[str, list[str], Path | None]] = []
        if reference is not None:
            settings.append(("reference", [], reference))
        settings += [(f"jobs {j}", [f"--memgate-jobs={j}"], None) for j in jobs]
        for label, flags, pythonpath in settings:
            baseline.unlink(missing_ok=True)
            done, seconds = _timed(
                project,
                pair,
                "before",
                "test_scenario.py",
                "--memgate",
                "--memgate-update",
                f"--memgate-baseline={baseline}",
                *flags,
                pythonpath=pythonpath,
            )
            recordings.append(Recording(label, seconds, done.returncode == 0 and baseline.is_file()))
        if not baseline.is_file() or not recordings[-1].ok:  # the gate runs against the last one
            raise RuntimeError(f"{pair.name}: recording the baseline failed")
        report = project / "report.json"
        done, gate_s = _timed(
            project,
            pair,
            "after",
            "test_scenario.py",
            "--memgate",
            f"--memgate-baseline={baseline}",
            f"--memgate-report={report}",
        )
        if not report.is_file():
            raise run_failure("the gate run", done)
        scenario = json.loads(report.read_text())["scenarios"][0]
        refreshed = project / "refreshed.json"
        shutil.copyfile(baseline, refreshed)
        done, refresh_s = _timed(
            project,
            pair,
            "before",
            "test_scenario.py",
            "--memgate",
            f"--memgate-baseline={refreshed}",
            "--memgate-update-branches=main",
            f"--memgate-report={report}",
            ci=True,
        )
        if done.returncode != 0:
            raise run_failure("the refresh", done)
        refresh = json.loads(report.read_text())["scenarios"][0]
        return PairRound(
            plain["before"],
            plain["after"],
            gate_s,
            str(scenario["verdict"]),
            int(scenario["runs"]),
            recordings,
            refresh_s,
            int(refresh["runs"]),
        )
    finally:
        shutil.rmtree(project, ignore_errors=True)


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def _p90(values: Sequence[float]) -> float:
    """The 90th percentile (nearest rank): the tail a team meets one run in ten."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, -(-9 * len(ordered) // 10) - 1)]


@dataclass
class Table:
    labels: list[str]
    rows: list[list[str]] = field(default_factory=list)
    passes: list[float] = field(default_factory=list)
    regressions: list[float] = field(default_factory=list)
    refreshes: list[float] = field(default_factory=list)
    records: dict[str, list[float]] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)

    @property
    def header(self) -> list[str]:
        cells = ["pair", "kind", "verdict", "runs", "plain s", "gate s", "gate ratio"]
        cells += ["refresh s", "refresh ratio", "refresh runs"]
        for label in self.labels:
            cells += [f"record s ({label})", f"record ratio ({label})"]
        return cells

    def add(self, pair: Pair, r: PairRound) -> None:
        row = [
            pair.name + ("" if pair.clear else " ~"),
            pair.kind,
            r.verdict,
            str(r.runs),
            f"{r.plain_after_s:.1f}",
            f"{r.gate_s:.1f}",
            f"{r.ratio:.1f}x",
            f"{r.refresh_s:.1f}",
            f"{r.refresh_ratio:.1f}x",
            str(r.refresh_runs),
        ]
        self.refreshes.append(r.refresh_ratio)
        for label in self.labels:
            rec = next((x for x in r.recordings if x.label == label), None)
            ratio = r.record_ratio(label)
            row += [
                f"{rec.seconds:.1f}" if rec is not None else "-",
                f"{ratio:.1f}x" if ratio is not None else "failed",
            ]
            if ratio is not None:
                self.records.setdefault(label, []).append(ratio)
        self.rows.append(row)
        if r.verdict not in pair.expected:
            self.wrong.append(f"{pair.name}: {r.verdict}, expected {'/'.join(pair.expected)}")
        if not pair.clear:
            return
        if pair.kind == "benign" and r.verdict == "pass":  # a clean run (an improvement is news)
            self.passes.append(r.ratio)
        elif pair.kind == "regression" and r.verdict == "regression":
            self.regressions.append(r.ratio)

    def summary(self, cores: int) -> list[str]:
        def line(what: str, values: list[float], median: float | None, p90: float) -> str:
            if not values:
                return f"{what}: none in this run"
            med, tail = _median(values), _p90(values)
            met = tail <= p90 and (median is None or med <= median)
            target = (f"median <= {median:g}x, " if median is not None else "") + f"90th <= {p90:g}x"
            return (
                f"{what} ({len(values)}): median {med:.1f}x, 90th percentile {tail:.1f}x "
                f"(target {target}) - {'met' if met else 'MISSED'}"
            )

        lines = [
            line("gate / plain, clear passes", self.passes, PASS_MEDIAN, PASS_P90),
            line("gate / plain, clear regressions", self.regressions, None, REGRESSION_TARGET),
            line("refresh / plain, every pair (a clean run's target)", self.refreshes, PASS_MEDIAN, PASS_P90),
        ]
        for label in self.labels:
            values = self.records.get(label, [])
            lines.append(line(f"first recording / plain ({label})", values, None, RECORD_TARGET))
        lines += [f"wrong verdict: {w}" for w in self.wrong]
        return lines


def _text(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="rounds per pair; times are their medians")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="only this pair")
    parser.add_argument(
        "--jobs",
        action="append",
        type=int,
        default=[],
        help="record the baseline with --memgate-jobs N (repeatable; default: the usable cores' auto)",
    )
    parser.add_argument(
        "--reference",
        type=Path,
        default=None,
        metavar="DIR",
        help="also record with the pytest_memgate package of this checkout (e.g. a git worktree)",
    )
    parser.add_argument(
        "--results", type=Path, default=None, help=f"markdown output (default {DEFAULT_RESULTS.name})"
    )
    parser.add_argument(
        "--load", type=int, default=0, metavar="N", help="keep N busy processes running beside it"
    )
    args = parser.parse_args(argv)
    names = selected_pairs(parser, args.only)
    args.names = names or list(NAMES)
    if args.reference is not None and not (args.reference / "pytest_memgate").is_dir():
        parser.error(f"--reference {args.reference}: no pytest_memgate package in it")
    if args.results is None and not names:
        args.results = DEFAULT_RESULTS
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from pytest_memgate.limits import cpu_jobs, usable_cores

    cores = usable_cores()
    jobs = args.jobs or [cpu_jobs(None)]
    command = "python benchmarks/cost.py " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    started = time.perf_counter()
    labels = (["reference"] if args.reference is not None else []) + [f"jobs {j}" for j in jobs]
    table = Table(labels)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    try:
        _measure(args, table, jobs)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    elapsed = time.perf_counter() - started
    _report(args, table, cores, command, elapsed)
    return 0


def _measure(args: argparse.Namespace, table: Table, jobs: Sequence[int]) -> None:
    for name in args.names:
        pair = get_pair(name)
        rounds = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            try:
                rounds.append(run_pair(pair, jobs, args.reference))
            except (RuntimeError, OSError, subprocess.TimeoutExpired, KeyError, ValueError) as exc:
                print(f"{name}: {exc}", flush=True)
                continue
            r = rounds[-1]
            records = "  ".join(f"{x.label} {x.seconds:.1f}s" for x in r.recordings)
            took = time.perf_counter() - t0
            print(
                f"{name:<24} {r.verdict:<11} runs {r.runs}  plain {r.plain_after_s:5.1f}s  "
                f"gate {r.gate_s:5.1f}s ({r.ratio:.1f}x)  refresh {r.refresh_s:5.1f}s "
                f"({r.refresh_ratio:.1f}x, {r.refresh_runs} run(s))  record: {records}  [{took:.0f}s]",
                flush=True,
            )
        if rounds:
            table.add(pair, _median_round(rounds))


def _report(args: argparse.Namespace, table: Table, cores: int, command: str, elapsed: float) -> None:
    summary = table.summary(cores)
    print()
    print(_text(table.header, table.rows))
    print()
    print("\n".join(summary))
    print(f"\n{elapsed / 60:.1f} min in total")
    if args.results is not None:
        info = machine()
        load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
        text = [
            "# Cost benchmark",
            "",
            f"`{command}` on {info['date']}; {elapsed / 60:.1f} min in total; load average at the "
            f"end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min).",
            "",
            f"Machine: {info['nproc']} CPUs ({info['cpu']}), {cores} usable, {info['os']}, "
            f"Python {info['python']}, memray {info['memray']}, pytest-memgate {info['pytest-memgate']}.",
            "",
            "Whole processes, start to exit. *plain s*: `pytest` (no `--memgate`) of a test that "
            "loops the scenario's warmup + iterations calls on `after`; *gate s*: `pytest --memgate` "
            "on `after` against a baseline from `before`; *refresh s*: `pytest --memgate` on "
            "`before` as a CI run on an update branch, against a copy of that baseline; *record s*: "
            "`pytest --memgate --memgate-update` on `before` (6 full runs and 3 cheap ones), "
            "ratios against the plain run of `before`. "
            f"Busy processes beside it: {args.load}. "
            "`~` marks pairs near a threshold on purpose (not counted in the percentiles).",
            "",
            _markdown(table.header, table.rows),
            "",
            *[f"- {line}" for line in summary],
            "",
        ]
        args.results.write_text("\n".join(text))
        print(f"wrote {args.results}")


def _median_round(rounds: list[PairRound]) -> PairRound:
    """One row from several rounds: median times, the last round's verdict and runs."""
    if len(rounds) == 1:
        return rounds[0]
    last = rounds[-1]
    labels = [r.label for r in last.recordings]
    return PairRound(
        _median([r.plain_before_s for r in rounds]),
        _median([r.plain_after_s for r in rounds]),
        _median([r.gate_s for r in rounds]),
        last.verdict,
        last.runs,
        [
            Recording(
                label,
                _median([x.seconds for r in rounds for x in r.recordings if x.label == label and x.ok]),
                all(x.ok for r in rounds for x in r.recordings if x.label == label),
            )
            for label in labels
        ],
        _median([r.refresh_s for r in rounds]),
        last.refresh_runs,
    )


if __name__ == "__main__":
    sys.exit(main())
