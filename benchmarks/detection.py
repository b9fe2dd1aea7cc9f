"""Detection benchmark: does ``pytest --memgate`` catch real regressions and only those?

For every pair of the corpus (``benchmarks/corpus``) and every round:

1. a fresh pytest project is written to a temporary directory (``pyproject.toml`` with an
   empty ``[tool.pytest.ini_options]``, so that directory is the rootdir, and a test
   module with one ``memload`` scenario that gets its unit of work from
   ``corpus.make_unit``; the side is chosen with ``MEMGATE_BENCH_SIDE``);
2. ``pytest --memgate --memgate-update`` records the baseline from ``before``;
3. ``pytest --memgate --memgate-report`` measures ``after`` against it; the verdict, the
   runs used and the messages come from the report, the wall time from the clock;
4. the same ``after`` calls (warmup + iterations) run once more in a fresh process
   without any measurement, so that the gate's cost has a reference.

Targets (the exit status is 1 when one is missed; everything is printed regardless):
every regression caught in every round, no false alarm on a benign pair in any round,
and every clear case decided within the first three runs, or a jump in peak within the
runs that rule out a second level the baseline missed (``stats.odd_runs_needed``: 4 for
a session of one scenario).

    python benchmarks/detection.py [--rounds 3] [--only NAME] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from _runs import timed_pytest  # noqa: E402 - needs the path above
from corpus import NAMES, Pair, get_pair  # noqa: E402

DEFAULT_RESULTS = BENCH_DIR / "RESULTS.md"
FAST_RUNS = 3  # clear cases should be decided by the first runs the gate makes


def _peak_jump_runs() -> int:
    """Runs a deterministic jump in peak takes in a one-scenario session with the default
    baseline: a level the baseline's runs never showed, ruled out for every share."""
    from pytest_memgate.config import GateConfig
    from pytest_memgate.schedule import look_schedule
    from pytest_memgate.stats import odd_runs_needed
    from pytest_memgate.verdict import Policy

    config = GateConfig()
    looks = look_schedule(config.runs, config.max_runs, first=config.min_runs)
    policy = Policy.for_session(config, 1, len(looks))
    return odd_runs_needed(0, config.baseline_runs, policy.metric_alpha)


PEAK_JUMP_RUNS = _peak_jump_runs()
RUN_TIMEOUT_S = 900.0

TEST_MODULE = """\
import os

import pytest

from corpus import make_unit


@pytest.fixture
def unit():
    return make_unit(os.environ["MEMGATE_BENCH_PAIR"], os.environ["MEMGATE_BENCH_SIDE"])


@pytest.mark.memload(iterations={iterations}, warmup={warmup})
def test_{name}(unit):
    unit()
"""

# Plain calls of one side, no tracking, no pauses: the reference for the gate's cost.
UNMEASURED = """\
import json, sys, time
from corpus import make_unit
unit = make_unit(sys.argv[1], sys.argv[2])
calls = int(sys.argv[3])
started = time.perf_counter()
for _ in range(calls):
    unit()
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


@dataclass
class RoundResult:
    verdict: str  # the gate's verdict, or "setup-error" when the baseline run failed
    reasons: list[str]
    runs: int
    exit_code: int
    gate_wall_s: float
    unmeasured_s: float
    message: str
    runs_wall_s: float = 0.0  # time inside the isolated runs: no interpreter start-up, no setup
    notes: list[str] = field(default_factory=list)
    shape: str | None = None

    @property
    def ratio(self) -> float:
        return self.gate_wall_s / self.unmeasured_s if self.unmeasured_s > 0 else float("nan")

    @property
    def runs_ratio(self) -> float:
        return self.runs_wall_s / self.unmeasured_s if self.unmeasured_s > 0 else float("nan")


@dataclass
class PairResult:
    pair: Pair
    rounds: list[RoundResult] = field(default_factory=list)

    def correct(self, r: RoundResult) -> bool:
        return r.verdict in self.pair.expected

    def caught(self, r: RoundResult) -> bool:
        return self.pair.kind == "regression" and r.verdict == "regression"

    def false_alarm(self, r: RoundResult) -> bool:
        return self.pair.kind == "benign" and r.verdict == "regression"

    def fast(self, r: RoundResult) -> bool:
        if r.verdict in ("error", "setup-error"):
            return False
        jump = r.verdict == "regression" and "peak" in r.reasons
        return r.runs <= (max(FAST_RUNS, PEAK_JUMP_RUNS) if jump else FAST_RUNS)


# --- running one pair --------------------------------------------------------------------


def _env(pair: Pair, side: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BENCH_DIR), env.get("PYTHONPATH", "")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["MEMGATE_BENCH_PAIR"] = pair.name
    env["MEMGATE_BENCH_SIDE"] = side
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _pytest(
    project: Path, pair: Pair, side: str, *flags: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    return timed_pytest(["--memgate", *flags], cwd=project, env=_env(pair, side), timeout=RUN_TIMEOUT_S * 10)


def _unmeasured_seconds(project: Path, pair: Pair) -> float:
    calls = pair.warmup + pair.iterations
    done = subprocess.run(
        [sys.executable, "-c", UNMEASURED, pair.name, "after", str(calls)],
        cwd=project,
        env=_env(pair, "after"),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{pair.name}: the unmeasured run failed:\n{done.stderr}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_round(pair: Pair, keep: bool, gate_options: Sequence[str] = ()) -> RoundResult:
    project = Path(tempfile.mkdtemp(prefix=f"memgate-bench-{pair.name}-"))
    try:
        (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
        (project / "test_scenario.py").write_text(
            TEST_MODULE.format(name=pair.name, iterations=pair.iterations, warmup=pair.warmup)
        )
        baseline = project / "baseline.json"
        update, _ = _pytest(
            project, pair, "before", "--memgate-update", "--memgate-baseline", str(baseline), *gate_options
        )
        if update.returncode != 0 or not baseline.is_file():
            return RoundResult(
                "setup-error",
                [],
                0,
                update.returncode,
                0.0,
                0.0,
                f"recording the baseline from 'before' failed (exit {update.returncode}):\n"
                + _tail(update.stdout + update.stderr),
            )
        report_path = project / "report.json"
        gate, wall = _pytest(
            project,
            pair,
            "after",
            "--memgate-baseline",
            str(baseline),
            "--memgate-report",
            str(report_path),
            *gate_options,
        )
        unmeasured = _unmeasured_seconds(project, pair)
        if not report_path.is_file():
            return RoundResult(
                "setup-error",
                [],
                0,
                gate.returncode,
                wall,
                unmeasured,
                f"the gate run wrote no report (exit {gate.returncode}):\n"
                + _tail(gate.stdout + gate.stderr),
            )
        scenario = _scenario(json.loads(report_path.read_text()), pair.name)
        return RoundResult(
            verdict=str(scenario["verdict"]),
            reasons=[str(r) for r in scenario.get("reasons", [])],
            runs=int(scenario["runs"]),
            exit_code=gate.returncode,
            gate_wall_s=wall,
            unmeasured_s=unmeasured,
            message=str(scenario.get("message", "")),
            notes=[str(n) for n in scenario.get("notes", [])],
            shape=scenario.get("shape"),
            runs_wall_s=sum(float(r.get("wall_s", 0.0)) for r in scenario.get("run_records", [])),
        )
    finally:
        if keep:
            print(f"    (kept {project})", flush=True)
        else:
            shutil.rmtree(project, ignore_errors=True)


def _scenario(report: dict[str, Any], name: str) -> dict[str, Any]:
    for scenario in report.get("scenarios", []):
        if str(scenario.get("id", "")).endswith(f"::test_{name}"):
            return dict(scenario)
    raise RuntimeError(f"{name}: the report has no scenario test_{name}")


# --- presentation ------------------------------------------------------------------------


def _verdict_cell(pr: PairResult, r: RoundResult) -> str:
    text = r.verdict
    if r.verdict == "regression" and r.reasons:
        text += f"({','.join(r.reasons)})"
    if pr.pair.kind == "regression" and r.verdict == "regression" and pr.pair.reason not in r.reasons:
        text += "?"  # caught, but not for the expected reason
    expected_exit = 1 if r.verdict in ("regression", "error") else 0
    if r.verdict != "setup-error" and r.exit_code != expected_exit:
        text += f"[exit {r.exit_code}]"
    return text if pr.correct(r) else f"*{text}*"


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def _row(pr: PairResult) -> list[str]:
    p = pr.pair
    expected = "/".join(p.expected) + (f"({p.reason})" if p.reason else "")
    return [
        p.name + ("" if p.clear else " ~"),
        p.kind,
        expected,
        " ".join(_verdict_cell(pr, r) for r in pr.rounds),
        "/".join(str(r.runs) for r in pr.rounds),
        f"{_median([r.gate_wall_s for r in pr.rounds]):.1f}",
        f"{_median([r.unmeasured_s for r in pr.rounds]):.2f}",
        f"{_median([r.ratio for r in pr.rounds]):.0f}x",
        f"{_median([r.runs_wall_s for r in pr.rounds]):.1f}",
        f"{_median([r.runs_ratio for r in pr.rounds]):.1f}x",
    ]


HEADER = [
    "pair",
    "kind",
    "expected",
    "verdict per round",
    "runs",
    "gate s",
    "plain s",
    "ratio",
    "in runs s",
    "runs ratio",
]
TARGET_RATIO = 5.0


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(HEADER, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def markdown_table(rows: list[list[str]]) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|").replace("*", "\\*")

    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Totals:
    regressions: int = 0
    caught: int = 0
    benign: int = 0
    false_alarms: int = 0
    clear: int = 0
    clear_fast: int = 0
    ratios: list[float] = field(default_factory=list)
    runs_ratios: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)  # target misses, with the gate's message
    remarks: list[str] = field(default_factory=list)  # not a target, still worth reading

    @property
    def ok(self) -> bool:
        return (
            self.caught == self.regressions
            and self.false_alarms == 0
            and self.clear_fast == self.clear
            and _median(self.runs_ratios) <= TARGET_RATIO
        )

    def lines(self) -> list[str]:
        def mark(ok: bool) -> str:
            return "met" if ok else "MISSED"

        ratio = _median(self.ratios)
        return [
            f"regressions caught: {self.caught}/{self.regressions} "
            f"(target: all) - {mark(self.caught == self.regressions)}",
            f"false alarms: {self.false_alarms}/{self.benign} benign (target: 0) - "
            f"{mark(self.false_alarms == 0)}",
            f"clear cases decided in <= {FAST_RUNS} runs ({PEAK_JUMP_RUNS} for a jump in peak): "
            f"{self.clear_fast}/{self.clear} "
            f"(target: all) - {mark(self.clear_fast == self.clear)}",
            f"median gate/plain time ratio (clear cases, pytest start-up included): {ratio:.0f}x",
            f"median time in isolated runs / plain calls (clear cases): {_median(self.runs_ratios):.1f}x "
            f"(target: <= {TARGET_RATIO:g}x) - {mark(_median(self.runs_ratios) <= TARGET_RATIO)}",
            f"by clear case, time in isolated runs / plain calls: {self._spread()}",
        ]

    def _spread(self) -> str:
        """The median alone could hide a slow tail: how many cases are over the target, and the worst."""
        if not self.runs_ratios:
            return "none measured"
        over = sum(r > TARGET_RATIO for r in self.runs_ratios)
        return (
            f"{min(self.runs_ratios):.1f}x to {max(self.runs_ratios):.1f}x; "
            f"{over} of {len(self.runs_ratios)} over {TARGET_RATIO:g}x"
        )


def summarize(results: list[PairResult]) -> Totals:
    t = Totals()
    for pr in results:
        p = pr.pair
        for i, r in enumerate(pr.rounds, start=1):
            where = f"{p.name}, round {i}: {r.verdict}" + (f" ({','.join(r.reasons)})" if r.reasons else "")
            where += f" after {r.runs} runs"
            missed: list[str] = []
            if p.kind == "regression":
                t.regressions += 1
                if pr.caught(r):
                    t.caught += 1
                    if p.reason not in r.reasons:
                        t.remarks.append(f"{where}: caught, but expected reason {p.reason}")
                else:
                    missed.append("regression not caught")
            else:
                t.benign += 1
                if pr.false_alarm(r):
                    t.false_alarms += 1
                    missed.append("false alarm")
                elif not pr.correct(r):
                    t.remarks.append(f"{where}: expected {'/'.join(p.expected)}\n    {r.message}")
            if p.clear:
                t.clear += 1
                if pr.fast(r):
                    t.clear_fast += 1
                    t.ratios.append(r.ratio)
                    t.runs_ratios.append(r.runs_ratio)
                else:
                    missed.append(f"clear case took {r.runs} runs")
            if missed:
                t.misses.append(f"{where} - {'; '.join(missed)}\n    {r.message}")
            for note in r.notes:
                t.remarks.append(f"{where}: note: {note}")
    return t


def machine() -> dict[str, str]:
    import memray

    import pytest_memgate

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        revision = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        revision = "unknown"
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "memray": memray.__version__,
        "pytest-memgate": f"{pytest_memgate.__version__} ({revision})",
    }


def write_markdown(
    path: Path, results: list[PairResult], totals: Totals, info: dict[str, str], command: str, elapsed: float
) -> None:
    rounds = max((len(pr.rounds) for pr in results), default=0)
    text = [
        "# Detection benchmark",
        "",
        f"`{command}` on {info['date']}; {rounds} round(s), {elapsed / 60:.1f} min in total.",
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['os']}, Python {info['python']}, "
        f"memray {info['memray']}, pytest-memgate {info['pytest-memgate']}.",
        "",
        "Each round records a baseline from `before` in a fresh project and then gates `after` "
        "against it with the default thresholds. *gate s*: wall time of the `pytest --memgate` "
        "run on `after` (process start to exit, every isolated run included); *plain s*: the "
        "same warmup + iterations calls of `after` in a fresh process with no measurement "
        "(setup excluded); *ratio*: gate s / plain s; *in runs s*: time spent inside the isolated runs "
        "(the gate's own cost, without interpreter start-up and fixture setup); *runs ratio*: "
        "in runs s / plain s. Times are medians over the rounds. "
        "Verdicts in \\*stars\\* are wrong; `~` marks pairs that sit near a threshold on purpose "
        "(not counted as clear cases); `?` marks a regression caught for another reason than "
        "the one expected.",
        "",
        markdown_table([_row(pr) for pr in results]),
        "",
        *[f"- {line}" for line in totals.lines()],
        "",
    ]
    if totals.misses:
        text += ["## Misses", "", *[_md_block(m) for m in totals.misses], ""]
    if totals.remarks:
        text += ["## Remarks", "", *[_md_block(m) for m in totals.remarks], ""]
    text += ["## Pairs", ""]
    text += [f"- `{pr.pair.name}` ({pr.pair.kind}): {pr.pair.summary}" for pr in results]
    path.write_text("\n".join(text) + "\n")


def _md_block(entry: str) -> str:
    head, _, body = entry.partition("\n")
    return f"- {head}" + (f"\n\n  > {' '.join(body.split())}\n" if body.strip() else "")


# --- main --------------------------------------------------------------------------------


def selected_pairs(parser: argparse.ArgumentParser, only: Sequence[str]) -> list[str]:
    """The pairs named by ``--only`` (repeatable, comma-separated), in corpus order."""
    names = {n for item in only for n in item.split(",") if n}
    unknown = sorted(names - set(NAMES))
    if unknown:
        parser.error(f"unknown pair(s) {', '.join(unknown)}; known: {', '.join(NAMES)}")
    return [n for n in NAMES if n in names]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per pair (default 3)")
    parser.add_argument("--quick", action="store_true", help="one round")
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="run only this pair (repeatable)"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help=f"markdown output (default {DEFAULT_RESULTS.relative_to(REPO_DIR)}; not written with --only)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary projects")
    parser.add_argument(
        "--gate-option",
        action="append",
        default=[],
        metavar="FLAG",
        help="extra pytest flag for every gate run, e.g. "
        "--gate-option=--memgate-trace-python-allocators=false",
    )
    args = parser.parse_args(argv)
    names = selected_pairs(parser, args.only)
    args.names = names or list(NAMES)
    if args.quick:
        args.rounds = 1
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.results is None and not names:
        args.results = DEFAULT_RESULTS
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python benchmarks/detection.py " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    started = time.perf_counter()
    results = [PairResult(get_pair(name)) for name in args.names]
    for round_number in range(1, args.rounds + 1):
        for pr in results:
            p = pr.pair
            t0 = time.perf_counter()
            try:
                r = run_round(p, args.keep, args.gate_option)
            except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as exc:
                r = RoundResult("setup-error", [], 0, -1, 0.0, 0.0, f"the benchmark could not run: {exc}")
            pr.rounds.append(r)
            reasons = f"({','.join(r.reasons)})" if r.reasons else ""
            print(
                f"round {round_number}/{args.rounds}  {p.name:<24} {r.verdict + reasons:<22} "
                f"runs {r.runs}  gate {r.gate_wall_s:5.1f}s  plain {r.unmeasured_s:5.2f}s  "
                f"[{time.perf_counter() - t0:5.1f}s]",
                flush=True,
            )
    elapsed = time.perf_counter() - started
    totals = summarize(results)
    print()
    print(text_table([_row(pr) for pr in results]))
    print()
    print("\n".join(totals.lines()))
    if totals.misses:
        print("\nMisses:")
        print("\n".join(f"- {textwrap.indent(m, '  ').lstrip()}" for m in totals.misses))
    if totals.remarks:
        print("\nRemarks:")
        print("\n".join(f"- {textwrap.indent(m, '  ').lstrip()}" for m in totals.remarks))
    print(f"\n{elapsed / 60:.1f} min in total")
    if args.results is not None:
        write_markdown(args.results, results, totals, machine(), command, elapsed)
        print(f"wrote {args.results}")
    return 0 if totals.ok else 1


if __name__ == "__main__":
    sys.exit(main())
