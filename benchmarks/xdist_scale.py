"""Scale benchmark: ``pytest --memgate`` serially and under pytest-xdist, and the pytest
process's memory over a long session.

Part 1 (xdist): a fresh project with ``--scenarios`` small memload scenarios (a few KiB of
lists each, 10 measured calls after 3 warm-up calls) records a baseline serially, then is
gated serially, with ``-n 2`` and, where the machine has four cores, ``-n 4``. Every mode
must give every scenario the same verdict (the report's ``verdict`` per id); the table
shows the wall time of each mode against the serial one.

Part 2 (RSS): a project with ``--big`` scenarios records a baseline and is gated in one
serial session each, without a report (the verdicts are read from the summary table;
``--with-report`` adds a gate session that writes a JSON report, which keeps each run's
timeline for its charts); a ``conftest.py`` in that project writes the pytest process's
RSS (psutil) at the session's start, after collection, after every test and at the end of
the session. The growth per scenario is taken after the first tenth of the scenarios, so
that one-off imports and caches filled by the first verdicts are not counted as retained.

The exit status is 1 when the verdicts differ between modes or a session fails to run;
everything is printed regardless. Wall times on a shared machine are noisy: compare the
ratios of one invocation, not seconds across invocations.

    python benchmarks/xdist_scale.py [--scenarios 50] [--big 300] [--quick] [--with-report] [--out FILE]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
if str(BENCH_DIR) not in sys.path:  # for ``_runs``
    sys.path.append(str(BENCH_DIR))

from _runs import timed_pytest  # noqa: E402

SESSION_TIMEOUT_S = 3 * 3600.0
KIB = 1024

TEST_MODULE = """\
import pytest


@pytest.mark.memload(iterations={iterations}, warmup={warmup})
@pytest.mark.parametrize("k", range({count}))
def test_scenario(k):
    # a few KiB of small objects, different per scenario so that no two are alike
    rows = [[i, str(i)] for i in range(40 + 8 * (k % 16))]
    return len(rows)
"""

# Written only into the RSS project: the pytest process's RSS through the session.
RSS_CONFTEST = """\
import json
import os

import psutil
import pytest

_PROCESS = psutil.Process()
_SEEN = {"start": 0, "collected": 0, "tests": [], "end": 0}


def _rss():
    return _PROCESS.memory_info().rss


def pytest_sessionstart(session):
    _SEEN["start"] = _rss()


def pytest_collection_finish(session):
    _SEEN["collected"] = _rss()


def pytest_runtest_logfinish(nodeid, location):
    _SEEN["tests"].append(_rss())


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    # after the gate wrote its baseline and report: the session's end as a user sees it
    _SEEN["end"] = _rss()
    with open(os.environ["MEMGATE_BENCH_RSS"], "w") as handle:
        json.dump(_SEEN, handle)
"""


@dataclass
class Session:
    """One pytest session: how it ended and what it decided."""

    mode: str
    wall_s: float
    returncode: int
    verdicts: dict[str, str]
    output: str

    @property
    def counts(self) -> str:
        tally = collections.Counter(self.verdicts.values())
        return ", ".join(f"{n} {verdict}" for verdict, n in sorted(tally.items())) or "none"


# Where the plugin is imported from: this checkout unless --source names another tree (e.g.
# an export of one commit, so that edits in progress do not change what is measured).
SOURCE = [REPO_DIR]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SOURCE[0]), env.get("PYTHONPATH", "")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER_COUNT", None)
    env.update(extra or {})
    return env


def make_project(count: int, iterations: int, warmup: int, *, rss: bool, baseline_runs: int | None) -> Path:
    project = Path(tempfile.mkdtemp(prefix="memgate-xdist-scale-"))
    gate = f"[tool.memgate]\nbaseline_runs = {baseline_runs}\n" if baseline_runs else ""
    (project / "pyproject.toml").write_text(f"[tool.pytest.ini_options]\n\n{gate}")
    (project / "test_scale.py").write_text(
        TEST_MODULE.format(count=count, iterations=iterations, warmup=warmup)
    )
    if rss:
        (project / "conftest.py").write_text(RSS_CONFTEST)
    return project


def run_session(
    project: Path, mode: str, *flags: str, env: dict[str, str] | None = None, report: bool = True
) -> Session:
    """One pytest session; the verdicts come from its JSON report, or without one (a report
    keeps each run's timeline for its charts) from the summary table."""
    path = project / f"report-{mode.replace(' ', '_')}.json"
    args = ["--memgate", *flags, *(["--memgate-report", str(path)] if report else [])]
    done, wall = timed_pytest(args, cwd=project, env=_env(env), timeout=SESSION_TIMEOUT_S)
    verdicts: dict[str, str] = {}
    if report and path.is_file():
        document = json.loads(path.read_text())
        verdicts = {str(s["id"]): str(s["verdict"]) for s in document.get("scenarios") or ()}
    elif not report:
        rows = re.finditer(r"^(test_scale\.py::\S+)\s+(\S+)", done.stdout, re.MULTILINE)
        verdicts = {row.group(1): row.group(2) for row in rows}
    return Session(mode, wall, done.returncode, verdicts, done.stdout + done.stderr)


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def xdist_part(
    count: int, iterations: int, warmup: int, worker_counts: Sequence[int]
) -> tuple[list[str], bool]:
    """The mode table (Markdown lines) and whether every mode agreed."""
    project = make_project(count, iterations, warmup, rss=False, baseline_runs=None)
    ok = True
    try:
        update = run_session(project, "update", "--memgate-update")
        print(
            f"baseline: {count} scenarios recorded in {update.wall_s:.1f} s (exit {update.returncode})",
            flush=True,
        )
        if update.returncode != 0 or len(update.verdicts) != count:
            print(_tail(update.output))
            return [f"recording the baseline failed (exit {update.returncode})"], False
        sessions = [run_session(project, "serial")]
        print(f"serial: {sessions[0].wall_s:.1f} s, {sessions[0].counts}", flush=True)
        for workers in worker_counts:
            session = run_session(project, f"-n {workers}", "-n", str(workers))
            print(f"-n {workers}: {session.wall_s:.1f} s, {session.counts}", flush=True)
            sessions.append(session)
        serial = sessions[0]
        lines = [
            "| mode | wall s | ratio to serial | exit | verdicts | same verdicts as serial |",
            "|---|---:|---:|---:|---|---|",
        ]
        for session in sessions:
            differing = sorted(
                nodeid
                for nodeid in serial.verdicts.keys() | session.verdicts.keys()
                if serial.verdicts.get(nodeid) != session.verdicts.get(nodeid)
            )
            same = (
                "yes"
                if not differing and len(session.verdicts) == count
                else f"NO: {', '.join(differing[:5])}"
            )
            if same != "yes" or session.returncode != 0:
                ok = False
                print(f"--- {session.mode} output ---\n{_tail(session.output)}")
            lines.append(
                f"| {session.mode} | {session.wall_s:.1f} | {session.wall_s / serial.wall_s:.2f} | "
                f"{session.returncode} | {session.counts} | {same} |"
            )
        lines.append("")
        lines.append(f"Baseline recorded serially with `--memgate-update` in {update.wall_s:.1f} s.")
        return lines, ok
    finally:
        shutil.rmtree(project, ignore_errors=True)


def _growth_line(mode: str, seen: dict[str, Any], count: int) -> str:
    tests: list[int] = seen["tests"]
    skip = max(1, len(tests) // 10)
    settled = (tests[-1] - tests[skip - 1]) / max(1, len(tests) - skip) if len(tests) > skip else float("nan")
    overall = (seen["end"] - seen["collected"]) / max(1, count)
    return (
        f"| {mode} | {count} | {seen['start'] / KIB**2:.1f} | {seen['collected'] / KIB**2:.1f} | "
        f"{tests[skip - 1] / KIB**2:.1f} | {tests[-1] / KIB**2:.1f} | {seen['end'] / KIB**2:.1f} | "
        f"{overall / KIB:.1f} | {settled / KIB:.1f} |"
    )


def rss_part(
    count: int, iterations: int, warmup: int, baseline_runs: int, with_report: bool
) -> tuple[list[str], bool]:
    project = make_project(count, iterations, warmup, rss=True, baseline_runs=baseline_runs)
    ok = True
    lines = [
        "| session | scenarios | RSS at start MiB | after collection MiB | after first tenth MiB | "
        "after last test MiB | at the end MiB | growth/scenario KiB (collection to end) | "
        "growth/scenario KiB (after the first tenth) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    try:
        sessions = [("update", ("--memgate-update",), False), ("gate", (), False)]
        if with_report:
            sessions.append(("gate with --memgate-report", (), True))
        for mode, flags, report in sessions:
            path = project / f"rss-{mode.replace(' ', '_')}.json"
            env = {"MEMGATE_BENCH_RSS": str(path)}
            session = run_session(project, mode, *flags, env=env, report=report)
            print(
                f"RSS {mode}: {session.wall_s:.1f} s, {session.counts} (exit {session.returncode})",
                flush=True,
            )
            if session.returncode != 0 or not path.is_file():
                print(_tail(session.output))
                ok = False
                continue
            lines.append(
                _growth_line(
                    f"{mode} ({session.wall_s:.0f} s, {session.counts})", json.loads(path.read_text()), count
                )
            )
        return lines, ok
    finally:
        shutil.rmtree(project, ignore_errors=True)


def _machine() -> str:
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    try:
        memray_version = importlib.metadata.version("memray")
    except importlib.metadata.PackageNotFoundError:
        memray_version = "not installed"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=SOURCE[0], capture_output=True, text=True, check=False
    ).stdout.strip()
    if SOURCE[0] != REPO_DIR:
        commit = f"{commit or '?'} (plugin from {SOURCE[0]})"
    return (
        f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}, "
        f"memray {memray_version}, commit {commit or '?'}; load average at the start {load}"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--scenarios", type=int, default=50, help="scenarios in the xdist part (default 50)")
    parser.add_argument(
        "--big", type=int, default=300, help="scenarios in the RSS part (default 300; 0 skips it)"
    )
    parser.add_argument("--iterations", type=int, default=10, help="measured calls per run (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up calls per run (default 3)")
    parser.add_argument(
        "--baseline-runs", type=int, default=2, help="baseline runs per scenario in the RSS part (default 2)"
    )
    parser.add_argument("--quick", action="store_true", help="10 scenarios and 60 in the RSS part")
    parser.add_argument("--no-xdist", action="store_true", help="skip the xdist part")
    parser.add_argument(
        "--with-report", action="store_true", help="RSS part: a third session that writes a JSON report"
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=REPO_DIR,
        help="the tree the plugin is imported from (default: this one)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="also write the tables (Markdown) to this file"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.scenarios, args.big = min(args.scenarios, 10), min(args.big, 60)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    SOURCE[0] = args.source.resolve()
    machine = _machine()
    started = time.perf_counter()
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"machine: {machine}", flush=True)
    workers = [2] + ([4] if (os.cpu_count() or 1) >= 4 else [])
    ok = True
    sections: list[str] = []
    if not args.no_xdist:
        table, agreed = xdist_part(args.scenarios, args.iterations, args.warmup, workers)
        ok &= agreed
        sections += [f"## {args.scenarios} scenarios: serial and under xdist", "", *table, ""]
    if args.big > 0:
        table, ran = rss_part(args.big, args.iterations, args.warmup, args.baseline_runs, args.with_report)
        ok &= ran
        sections += [
            f"## {args.big} scenarios in one serial session: the pytest process's RSS",
            "",
            *table,
            "",
        ]
    minutes = (time.perf_counter() - started) / 60
    command = "python benchmarks/xdist_scale.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = "\n".join(
        [
            f"`{command.strip()}` on {when}, {minutes:.1f} min in total.",
            "",
            f"Machine: {machine}.",
            "",
            *sections,
        ]
    )
    print()
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
        print(f"written: {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
