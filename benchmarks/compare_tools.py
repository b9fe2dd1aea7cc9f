"""Side by side: pytest-memgate, pytest-memray, pytest-benchmem and plain pytest on the same scenarios.

Each scenario is one small pytest file generated in a temporary project, with an unchanged
and a changed variant selected by ``CMP_VARIANT`` (``unchanged`` or ``changed``). One test,
``test_<name>``, carries ``@pytest.mark.memload`` (active only with ``--memgate``) and, by
``CMP_MEMRAY_LIMIT``, one of pytest-memray's markers (it takes one per test):
``limit_memory`` or ``limit_leaks``. A second test, ``test_<name>_bench``, makes the same
call through pytest-benchmark's ``benchmark`` fixture, which pytest-benchmem measures.
Every tool runs with the other tools' plugins disabled; plain ``pytest`` of ``test_<name>``
(one call) is the cost reference.

For each scenario:

1. *calibrate*: ``pytest --memray`` on the unchanged variant, once, keeping memray's capture;
   the high-water mark it holds (what ``limit_memory`` compares with) plus 10% becomes the
   ``limit_memory`` written into the file, as a team setting a limit would do;
   ``limit_leaks`` gets a small fixed value (``--leak-limit``, default 1 KB per location);
2. *record* (once, timed): ``pytest --memgate --memgate-update`` and pytest-benchmem's
   ``--benchmark-only --benchmark-memory --benchmark-autosave`` on the unchanged variant;
3. per round, per variant: plain ``pytest``, ``pytest --memray`` with ``limit_memory``, then
   with ``limit_leaks``, pytest-benchmem with ``--benchmark-memory-compare-fail=peak:10%``
   against its saved run, and ``pytest --memgate`` against its baseline; each a whole
   process timed from start to exit.

The table gives per tool and scenario: whether the changed variant failed (in how many
rounds, and on which check), false alarms on the unchanged variant over the rounds, and the
median over the rounds of the wall time relative to plain pytest in the same round. The
python that runs the tools is ``--python`` (default: this one); it needs pytest-memgate,
pytest-memray and pytest-benchmem, best in a separate virtualenv:

    python -m venv /tmp/cmp-venv
    /tmp/cmp-venv/bin/pip install -e . pytest-memray pytest-benchmem
    python benchmarks/compare_tools.py --python /tmp/cmp-venv/bin/python [--rounds 3]
        [--only slow_leak,peak_2x] [--out benchmarks/RESULTS-compare.md]

On this project's 2-core machine at load 12-15, the default run (7 scenarios, 3 rounds) took
10.7 min, and `--only` one scenario with `--rounds 1` about 1.2 min, recordings included.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.append(str(BENCH_DIR))

from _runs import run_failure, timed_pytest  # noqa: E402 - needs the path above

REPO_DIR = BENCH_DIR.parent
TIMEOUT_S = 1800.0
ITERATIONS, WARMUP = 30, 5
LIMIT_MARGIN = 0.10  # limit_memory = the unchanged peak plus this share
# plain pytest; pytest-memray with limit_memory, then with limit_leaks; pytest-memgate.
TOOLS = ("plain", "memray limit_memory", "memray limit_leaks", "benchmem", "memgate")
MEMRAY_LIMIT = {"memray limit_memory": "memory", "memray limit_leaks": "leaks"}
RECORDED = ("memgate", "benchmem")  # the tools that compare with a recorded run of the unchanged variant
BENCHMEM_FAIL = "peak:10%"  # the threshold pytest-benchmem's README shows
BENCHMEM_REGRESSION = "memory regression(s) over threshold"

MODULE = '''\
"""{doc}"""

import ctypes
import os
import random

import pytest

CHANGED = os.environ.get("CMP_VARIANT") == "changed"
MIB = 1024 * 1024
KEPT = []
LIBC = ctypes.CDLL(None)
LIBC.malloc.restype = ctypes.c_void_p
LIBC.malloc.argtypes = [ctypes.c_size_t]
LIBC.free.argtypes = [ctypes.c_void_p]
# pytest-memray takes one marker per test: CMP_MEMRAY_LIMIT picks which one guards it.
LIMITS = {{
    "memory": [pytest.mark.limit_memory("{limit_memory}")],
    "leaks": [pytest.mark.limit_leaks("{limit_leaks}")],
}}
pytestmark = LIMITS.get(os.environ.get("CMP_MEMRAY_LIMIT", ""), [])


def unit():
{body}


@pytest.mark.memload(iterations={iterations}, warmup={warmup})
def test_{name}():
    unit()


def test_{name}_bench(benchmark):
    """The same call as a pytest-benchmark test, for pytest-benchmem."""
    benchmark(unit)
'''


@dataclass(frozen=True)
class Scenario:
    name: str
    doc: str
    body: str  # the body of unit(), indented by four spaces
    regressed: bool  # whether the changed variant is a regression a gate should fail
    change: str  # what the changed variant changes, for the table


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "slow_leak",
        "Changed: a module-level list keeps 2 KiB per call.",
        "    rows = [str(i) * 4 for i in range(2_000)]\n"
        "    if CHANGED:\n"
        "        KEPT.append(bytes(2048))\n"
        "    return len(rows)",
        True,
        "leak, 2 KiB/call",
    ),
    Scenario(
        "large_call_leak",
        "Changed: the same 2 KiB per call kept, in a call that buffers a 4 MiB payload.",
        "    payload = b'p' * (4 * MIB)\n"
        "    if CHANGED:\n"
        "        KEPT.append(bytes(2048))\n"
        "    return len(payload)",
        True,
        "leak, 2 KiB/call in a 4 MiB call",
    ),
    Scenario(
        "peak_2x",
        "Changed: a 4 MiB payload is buffered twice (+100% peak).",
        "    payload = b'p' * (4 * MIB)\n"
        "    copy = bytearray(payload) if CHANGED else b''\n"
        "    return len(payload) + len(copy)",
        True,
        "peak +100%",
    ),
    Scenario(
        "peak_10pct",
        "Changed: 0.4 MiB more held beside a 4 MiB payload (+10% peak).",
        "    payload = b'p' * (4 * MIB)\n"
        "    extra = b'e' * (4 * MIB // 10) if CHANGED else b''\n"
        "    return len(payload) + len(extra)",
        True,
        "peak +10%",
    ),
    Scenario(
        "native_leak",
        "Changed: 64 KiB from libc malloc through ctypes, never freed.",
        "    size = 64 * 1024\n"
        "    ptr = LIBC.malloc(size)\n"
        "    ctypes.memset(ptr, 1, size)\n"
        "    if not CHANGED:\n"
        "        LIBC.free(ptr)\n"
        "    return size",
        True,
        "native leak, 64 KiB/call",
    ),
    Scenario(
        "noise",
        "Unchanged in both variants: a payload of 4 MiB +-5%, unseeded.",
        "    payload = b'n' * int(4 * MIB * random.uniform(0.95, 1.05))\n    return len(payload)",
        False,
        "nothing (peak noise +-5%)",
    ),
    Scenario(
        "benign",
        "Changed: a temporary doubled 4 MiB buffer, freed before the call returns (peak up, no leak).",
        "    payload = b'p' * (4 * MIB)\n"
        "    if CHANGED:\n"
        "        doubled = payload + payload\n"
        "        size = len(doubled)\n"
        "        del doubled\n"
        "        return size\n"
        "    return len(payload)",
        False,
        "benign: peak x3 for a moment, no leak",
    ),
)
NAMES = tuple(s.name for s in SCENARIOS)


@dataclass
class Outcome:
    """One tool's run of one variant: did it fail, on what, and how long it took."""

    failed: bool
    seconds: float
    why: str = ""  # the check that failed: "limit_memory", "leak", "peak", "growth", ...


@dataclass
class ToolResult:
    changed: list[Outcome] = field(default_factory=list)
    unchanged: list[Outcome] = field(default_factory=list)


@dataclass
class ScenarioResult:
    scenario: Scenario
    limit_memory: str = ""
    calibrated_peak: int = 0
    record_s: dict[str, float] = field(default_factory=dict)
    tools: dict[str, ToolResult] = field(default_factory=lambda: {t: ToolResult() for t in TOOLS})

    def ratio(self, tool: str, variant: str) -> float | None:
        """Median over rounds of the tool's time over plain pytest's in the same round."""
        plain = getattr(self.tools["plain"], variant)
        mine = getattr(self.tools[tool], variant)
        ratios = [m.seconds / p.seconds for m, p in zip(mine, plain, strict=False) if p.seconds > 0]
        return statistics.median(ratios) if ratios else None


def module_text(scenario: Scenario, limit_memory: str = "1 GB", limit_leaks: str = "1 KB") -> str:
    return MODULE.format(
        doc=scenario.doc,
        body=scenario.body,
        iterations=ITERATIONS,
        warmup=WARMUP,
        limit_memory=limit_memory,
        limit_leaks=limit_leaks,
        name=scenario.name,
    )


def memray_limit(peak_bytes: int, margin: float = LIMIT_MARGIN) -> str:
    """The ``limit_memory`` string for a measured peak plus a margin, and at least 1 KiB above it.

    The floor keeps a peak memray does not see (0 B) from becoming a limit nothing can pass.
    """
    return f"{max(round(peak_bytes * (1 + margin)), peak_bytes + 1024)} B"


def _run(
    python: str, args: Sequence[str], cwd: Path, variant: str, memray_limit: str = ""
) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMGATE_", "PYTEST_", "CMP_"))}
    env["CMP_VARIANT"] = variant
    if memray_limit:
        env["CMP_MEMRAY_LIMIT"] = memray_limit
    env.pop("PYTHONPATH", None)  # the tools come from --python's environment only
    return timed_pytest(args, cwd=cwd, env=env, timeout=TIMEOUT_S, python=python)


def memray_checks(output: str) -> str:
    """Which of pytest-memray's checks failed, from its failure messages."""
    found = []
    if "Test was limited to" in output:
        found.append("limit_memory")
    if "per location but at least one location leaked more" in output:
        found.append("limit_leaks")
    return "+".join(found) or ("error" if "Error" in output else "")


def memgate_checks(report: dict[str, Any]) -> str:
    """The metrics the gate found regressed, from its JSON report."""
    reasons: list[str] = []
    for scenario in report.get("scenarios", []):
        if isinstance(scenario, dict) and scenario.get("verdict") not in ("pass", "improvement"):
            # the findings name the metric ("heap growth", "RSS growth"), the reasons only its kind
            metrics = [str(f["metric"]) for f in scenario.get("findings", []) if f.get("regressed")]
            kinds = [str(r) for r in scenario.get("reasons", [])]
            reasons += metrics or kinds or [str(scenario.get("verdict"))]
    return "+".join(reasons)


def calibrate(python: str, project: Path, test: str) -> int:
    """The unchanged variant's high-water mark as pytest-memray's ``limit_memory`` counts it."""
    captures = project / "memray-bin"
    done, _ = _run(
        python, [*_only("memray"), "--memray", f"--memray-bin-path={captures}", test], project, "unchanged"
    )
    if done.returncode != 0:
        raise run_failure("calibration run (pytest --memray)", done)
    bins = sorted(captures.glob("*.bin"))
    if not bins:
        raise RuntimeError(
            f"pytest --memray left no capture in {captures}; upgrade pytest-memray (--memray-bin-path)"
        )
    code = (
        "import sys; from memray import FileReader; r = FileReader(sys.argv[1]); "
        "print(sum(a.size for a in r.get_high_watermark_allocation_records(merge_threads=True)))"
    )
    out = subprocess.run([python, "-c", code, str(bins[0])], capture_output=True, text=True, check=True)
    shutil.rmtree(captures, ignore_errors=True)
    return int(out.stdout.strip())


# Each tool runs with the other tools' plugins disabled, so that its cost is its own.
PLUGINS = ("memray", "memgate", "benchmem", "benchmark")


def _only(*keep: str) -> list[str]:
    return [arg for name in PLUGINS if name not in keep for arg in ("-p", f"no:{name}")]


def run_scenario(
    python: str, scenario: Scenario, rounds: int, leak_limit: str, log: bool = True
) -> ScenarioResult:
    project = Path(tempfile.mkdtemp(prefix=f"memgate-compare-{scenario.name}-"))
    result = ScenarioResult(scenario)
    module = f"test_{scenario.name}.py"
    try:
        (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
        (project / module).write_text(module_text(scenario))
        result.calibrated_peak = calibrate(python, project, f"{module}::test_{scenario.name}")
        result.limit_memory = memray_limit(result.calibrated_peak)
        (project / module).write_text(module_text(scenario, result.limit_memory, leak_limit))
        for tool in RECORDED:
            done, seconds = _run(python, _command(tool, project, module, record=True), project, "unchanged")
            if done.returncode != 0:
                raise run_failure(f"{tool}'s baseline recording", done)
            result.record_s[tool] = seconds
        if log:
            print(
                f"{scenario.name}: memray peak {result.calibrated_peak} B, "
                f"limit_memory {result.limit_memory}, recordings "
                + ", ".join(f"{t} {s:.1f} s" for t, s in result.record_s.items()),
                file=sys.stderr,
                flush=True,
            )
        for round_number in range(1, rounds + 1):
            for variant in ("unchanged", "changed"):
                for tool in TOOLS:
                    outcome = _measure(python, tool, project, module, variant)
                    getattr(result.tools[tool], variant).append(outcome)
                    if log:
                        print(
                            f"  round {round_number}/{rounds} {variant:<9} {tool:<19} "
                            f"{'FAIL ' + outcome.why if outcome.failed else 'pass'} {outcome.seconds:.1f} s",
                            file=sys.stderr,
                            flush=True,
                        )
    finally:
        shutil.rmtree(project, ignore_errors=True)
    return result


def _command(tool: str, project: Path, module: str, record: bool = False, report: str = "") -> list[str]:
    """pytest's arguments for a tool: its plugin alone, and the test written for it."""
    name = module.removesuffix(".py")
    if tool == "plain":
        return [*_only(), f"{module}::{name}"]
    if tool in MEMRAY_LIMIT:
        return [*_only("memray"), "--memray", f"{module}::{name}"]
    if tool == "memgate":
        baseline = f"--memgate-baseline={project / '.memgate' / 'baseline.json'}"
        extra = ["--memgate-update"] if record else [f"--memgate-report={report}"]
        return [*_only("memgate"), "--memgate", baseline, *extra, f"{module}::{name}"]
    storage = f"--benchmark-storage={project / '.benchmarks'}"
    extra = ["--benchmark-autosave"] if record else [f"--benchmark-memory-compare-fail={BENCHMEM_FAIL}"]
    return [
        *_only("benchmem", "benchmark"),
        "--benchmark-only",
        "--benchmark-memory",
        storage,
        *extra,
        f"{module}::{name}_bench",
    ]


def _measure(python: str, tool: str, project: Path, module: str, variant: str) -> Outcome:
    report = project / f"report-{variant}.json"
    command = _command(tool, project, module, report=str(report))
    done, seconds = _run(
        python,
        command,
        project,
        variant,
        MEMRAY_LIMIT.get(tool, ""),
    )
    output = done.stdout + done.stderr
    if tool == "plain":
        if done.returncode != 0:
            raise run_failure(f"plain pytest ({variant})", done)
        return Outcome(False, seconds)
    if tool in MEMRAY_LIMIT:
        if done.returncode not in (0, 1):
            raise run_failure(f"pytest --memray ({variant})", done)
        return Outcome(done.returncode == 1, seconds, memray_checks(output))
    if tool == "benchmem":
        regressed = BENCHMEM_REGRESSION in output
        if done.returncode != 0 and not regressed:
            raise run_failure(f"pytest --benchmark-memory ({variant})", done)
        return Outcome(regressed, seconds, "peak" if regressed else "")
    if done.returncode not in (0, 1) or not report.exists():
        raise run_failure(f"pytest --memgate ({variant})", done)
    why = memgate_checks(json.loads(report.read_text()))
    report.unlink()
    return Outcome(done.returncode == 1, seconds, why)


def _count(outcomes: Sequence[Outcome]) -> str:
    if not outcomes:
        return "-"
    failed = [o for o in outcomes if o.failed]
    whys = sorted({o.why for o in failed if o.why})
    return f"{len(failed)}/{len(outcomes)}" + (f" ({', '.join(whys)})" if whys else "")


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def _time_cell(result: ScenarioResult, tool: str, variant: str) -> str:
    outcomes = getattr(result.tools[tool], variant)
    if not outcomes:
        return "-"
    seconds = statistics.median(o.seconds for o in outcomes)
    return f"{_ratio(result.ratio(tool, variant))} ({seconds:.1f} s)"


def table(results: Sequence[ScenarioResult]) -> str:
    """The Markdown table: per scenario and tool, what failed and what it cost."""
    lines = [
        "| scenario | the change | tool | changed variant failed | false alarms (unchanged) "
        "| time vs plain, unchanged (median s) | time vs plain, changed (median s) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        for tool in TOOLS:
            res = r.tools[tool]
            plain = tool == "plain"
            lines.append(
                f"| {r.scenario.name} | {r.scenario.change} | {tool} "
                f"| {'-' if plain else _count(res.changed)} | {'-' if plain else _count(res.unchanged)} "
                f"| {_time_cell(r, tool, 'unchanged')} | {_time_cell(r, tool, 'changed')} |"
            )
    return "\n".join(lines)


def setup_table(results: Sequence[ScenarioResult]) -> str:
    """What each scenario's limit was and what the one-off recordings of a baseline cost."""
    lines = [
        "| scenario | memray peak (unchanged, one run) | limit_memory "
        + "".join(f"| {tool} recording s (vs plain) " for tool in RECORDED)
        + "|",
        "| --- | --- | --- " + "| --- " * len(RECORDED) + "|",
    ]
    for r in results:
        plain = [o.seconds for o in r.tools["plain"].unchanged]
        cells = []
        for tool in RECORDED:
            seconds = r.record_s.get(tool)
            ratio = seconds / statistics.median(plain) if seconds is not None and plain else None
            cells.append("-" if seconds is None else f"{seconds:.1f} ({_ratio(ratio)})")
        lines.append(
            f"| {r.scenario.name} | {r.calibrated_peak / 1024:.0f} KiB | {r.limit_memory} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def load_average() -> str:
    """``uptime``'s load averages (1, 5, 15 minutes)."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def versions(python: str) -> str:
    code = (
        "import importlib.metadata as m, platform; "
        "print(f'Python {platform.python_version()}, ' + ', '.join("
        "f'{p} {m.version(p)}' for p in ('pytest', 'pytest-memgate', 'pytest-memray', 'memray', "
        "'pytest-benchmem', 'pytest-benchmark')))"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"{python} lacks a tool ({done.stderr.strip().splitlines()[-1] if done.stderr else ''}); "
            f"install them with: {python} -m pip install -e {REPO_DIR} pytest-memray pytest-benchmem"
        )
    return done.stdout.strip()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--python", default=sys.executable, help="python with the tools installed")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every tool on both variants")
    parser.add_argument("--only", default="", help=f"comma-separated scenarios (of {', '.join(NAMES)})")
    parser.add_argument("--leak-limit", default="1 KB", help="limit_leaks value per location")
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown to this file")
    args = parser.parse_args(argv)
    unknown = [n for n in args.only.split(",") if n and n not in NAMES]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only.split(",")]
    tools = versions(args.python)
    load_start = load_average()
    started = time.perf_counter()
    results = [run_scenario(args.python, s, args.rounds, args.leak_limit) for s in chosen]
    minutes = (time.perf_counter() - started) / 60
    load_end = load_average()
    command = shlex.join(
        ["python", "benchmarks/compare_tools.py", *(argv if argv is not None else sys.argv[1:])]
    )
    text = "\n".join(
        [
            f"Command: `{command}`",
            "",
            f"Machine: {cpu_model()}, {os.cpu_count()} cores, "
            f"{platform.system()} {platform.release()}; {tools}.",
            f"Load average (`uptime`): {load_start} at start, {load_end} at end; {minutes:.1f} min in all.",
            f"Scenarios: memload(iterations={ITERATIONS}, warmup={WARMUP}); {args.rounds} round(s); "
            f'limit_memory = the unchanged peak + {LIMIT_MARGIN:.0%}, limit_leaks("{args.leak_limit}").',
            "",
            table(results),
            "",
            setup_table(results),
            "",
        ]
    )
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
