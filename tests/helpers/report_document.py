"""A real session's public report: a leak, a flat pass, a sized family that regressed, a crash.

The document is built the way the plugin builds it: a ``GateSession`` with an injected run
function records a baseline and compares, and ``reports.json.build_report`` maps the results
onto the public report. The HTML, Markdown, GitHub and browser tests all read this one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from helpers.sessions import CALLS, record  # the runs are the session tests' records
from pytest_memgate.backends import BackendChoice
from pytest_memgate.config import GateConfig
from pytest_memgate.marker import ScenarioSpec
from pytest_memgate.model import AllocSite, RunRecord, RunRequest, RunStatus
from pytest_memgate.reports.json import build_report
from pytest_memgate.session import GateSession

MiB = 1024**2
SAMPLES = 1500  # timeline samples per run: more than the page draws
EVIL = 't.py::test_x[<script>alert("x")</script>\x1b[31m|`&]'
FLAT = "t.py::test_flat"
CRASH = "t.py::test_crash"
FAMILY = "t.py::test_sizes"
SIZES = (1000, 4000, 16000)
PRODUCTION = 1_000_000
PLANTED = ("app/cache.py", 58)  # the line the planted leak allocates on
TEST_LINES = {EVIL: ("t.py", 12), FLAT: ("t.py", 30), CRASH: ("t.py", 44)}


def sized(n: int) -> str:
    return f"{FAMILY}[n={n}]"


def make_record(rng: np.random.Generator, peak: float = 8 * MiB, leak: float = 0.0) -> RunRecord:
    """``helpers.sessions.record`` (its floors and peaks) with a sawtooth timeline, the planted
    site and a few library ones."""
    seconds = np.linspace(0.0, 2.0, SAMPLES)
    phase = (seconds * CALLS / 2.0) % 1.0
    heap = 1 * MiB + leak * seconds * CALLS / 2.0 + (peak - 1 * MiB) * np.where(phase < 0.5, phase * 2, 0.0)
    retained = int(leak * CALLS) + 512
    return replace(
        record(rng, peak=peak, leak=leak),
        timeline=tuple((float(t), int(h), int(h * 1.3 + 2 * MiB)) for t, h in zip(seconds, heap)),
        peak_sites=(
            AllocSite(
                "quote",
                *PLANTED,
                int(peak * 0.6 + leak * CALLS),
                1200,
                (("quote", *PLANTED), ("test_x", "t.py", 13)),
            ),
            AllocSite("decode", "json/decoder.py", 353, int(peak * 0.3), 40),
            AllocSite("<module>", "<frozen importlib._bootstrap>", 241, 4096, 3),
        ),
        retained_sites=(
            AllocSite("cached", "/usr/lib/python3/site-packages/lru.py", 7, retained * 4, 9),
            AllocSite("quote", *PLANTED, retained, 400),
            AllocSite("helper", "app/util.py", 9, 256, 2),
        ),
        measured_s=1.6,
        wall_s=2.2,
    )


Make = Callable[[np.random.Generator], RunRecord]


def runner(make: Make) -> Callable[[object, RunRequest, float], RunRecord]:
    rng = np.random.default_rng(7)

    def run(body: object, request: RunRequest, timeout_s: float) -> RunRecord:
        return make(rng)

    return run


def _session(root: Path, **options: object) -> GateSession:
    config = GateConfig(enabled=True, rootdir=root, **options)  # type: ignore[arg-type]
    gate = GateSession(config, BackendChoice("memray", "test"), run=runner(make_record), environ={})
    gate.scenario_count = 3 + len(SIZES)
    return gate


def _measure(gate: GateSession, nodeid: str, make: Make, spec: ScenarioSpec | None = None) -> None:
    gate.run = runner(make)
    family = None
    if nodeid.startswith(FAMILY):
        family = (FAMILY, int(nodeid.rsplit("=", 1)[1].rstrip("]")))
    gate.measure(nodeid, spec or ScenarioSpec(), lambda: None, family=family)


def report_document(root: Path) -> dict[str, Any]:
    """A session's report: a leak (regression), a flat pass, a sized family whose peak went
    from n^1 to n^1.5 (with a production size), and a crashed scenario."""
    family_spec = ScenarioSpec(sizes=SIZES, production_size=PRODUCTION)
    baseline = _session(root, update=True, baseline_runs=3)  # fewer than 6: quicker, and a note
    for nodeid in (EVIL, FLAT):
        _measure(baseline, nodeid, make_record)
    for n in SIZES:
        _measure(baseline, sized(n), lambda rng, n=n: make_record(rng, peak=n * 4096.0), family_spec)
    baseline.write_baseline()

    gate = _session(root)
    _measure(gate, EVIL, lambda rng: make_record(rng, leak=48 * 1024))
    _measure(gate, FLAT, make_record)
    for n in SIZES:
        _measure(gate, sized(n), lambda rng, n=n: make_record(rng, peak=n**1.5 * 130.0), family_spec)
    _measure(
        gate, CRASH, lambda rng: RunRecord(RunStatus.CRASHED, "memray", error="crashed with signal SIGSEGV")
    )
    # Through JSON, as a saved report is read back: tuples become lists, NaN stays NaN.
    document: dict[str, Any] = json.loads(json.dumps(build_report(gate.report())))
    return document


def scenario(document: dict[str, Any], nodeid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in document["scenarios"] if s["id"] == nodeid)
    return found
