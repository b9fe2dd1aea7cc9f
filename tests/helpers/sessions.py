"""A gate session with an injected run function: runs drawn from a known model, no fork."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from pytest_memgate.backends import BackendChoice
from pytest_memgate.config import GateConfig
from pytest_memgate.marker import ScenarioSpec
from pytest_memgate.model import RunRecord, RunRequest, RunStatus
from pytest_memgate.results import Outcome
from pytest_memgate.session import GateSession

MiB = 1024**2
CALLS = 20


def record(rng: np.random.Generator, peak: float = 8 * MiB, leak: float = 0.0) -> RunRecord:
    """A run of CALLS calls: a steady floor with allocator jitter, plus ``leak`` bytes a call."""
    index = np.arange(CALLS + 1)
    floor = 1 * MiB + leak * index + rng.integers(-64, 65, CALLS + 1)
    rss = 4 * MiB + 4096 * ((leak * index) // 4096)
    blocks = 50_000 + (leak // 128) * index  # small objects: a leak is blocks too
    return RunRecord(
        status=RunStatus.OK,
        backend="memray",
        warmup=2,
        iterations=CALLS,
        peak_heap_bytes=int(peak + leak * CALLS),
        peak_rss_bytes=int(peak * 1.5 + leak * CALLS),
        heap_floor_bytes=tuple(int(v) for v in floor),
        rss_floor_bytes=tuple(int(v) for v in rss),
        blocks_floor=tuple(int(v) for v in blocks),
    )


Runner = Callable[[Callable[[], object], RunRequest, float], RunRecord]


def runner(make: Callable[[np.random.Generator], RunRecord], calls: list[RunRequest] | None = None) -> Runner:
    rng = np.random.default_rng(1)

    def run(body: Callable[[], object], request: RunRequest, timeout_s: float) -> RunRecord:
        if calls is not None:
            calls.append(request)
        return make(rng)

    return run


def session(tmp_path: Path, run: Runner, **options: object) -> GateSession:
    config = GateConfig(enabled=True, rootdir=tmp_path, **options)  # type: ignore[arg-type]
    gate = GateSession(config, BackendChoice("memray", "test"), run=run, environ={})
    gate.scenario_count = 1
    return gate


def body() -> None:
    return None


def record_baseline(tmp_path: Path, nodeid: str = "t.py::test_a", **options: object) -> None:
    gate = session(tmp_path, runner(record), update=True, **options)
    result = gate.measure(nodeid, ScenarioSpec(), body)
    assert result.outcome is Outcome.NEW
    assert len(result.records) == 6  # baseline_runs: never cut short
    gate.write_baseline()
    assert gate.written == [(nodeid, "--memgate-update")]
