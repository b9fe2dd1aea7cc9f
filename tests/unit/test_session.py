"""The session's orchestration with an injected run function: milliseconds, no fork, no memray.

The slow pytester tests check the wiring; these check what the session does with runs:
how many it takes, what it compares with, what it writes, and what it hands to xdist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pytest_memgate.backends import BackendChoice
from pytest_memgate.config import GateConfig
from pytest_memgate.marker import ScenarioSpec
from pytest_memgate.model import RunRecord, RunRequest, RunStatus
from pytest_memgate.reports.json import build_report
from pytest_memgate.reports.terminal import failure_text, summary_lines
from pytest_memgate.results import Metric, NoteKind, Outcome, Reason
from pytest_memgate.session import GateSession
from pytest_memgate.units import format_size
from pytest_memgate.verdict import Failure

MiB = 1024**2
CALLS = 20


def record(rng: np.random.Generator, peak: float = 8 * MiB, leak: float = 0.0) -> RunRecord:
    """A run of CALLS calls: a steady floor with allocator jitter, plus ``leak`` bytes a call."""
    index = np.arange(CALLS + 1)
    floor = 1 * MiB + leak * index + rng.integers(-64, 65, CALLS + 1)
    rss = 4 * MiB + 4096 * ((leak * index) // 4096)
    return RunRecord(
        status=RunStatus.OK,
        backend="memray",
        warmup=2,
        iterations=CALLS,
        peak_heap_bytes=int(peak + leak * CALLS),
        peak_rss_bytes=int(peak * 1.5 + leak * CALLS),
        heap_floor_bytes=tuple(int(v) for v in floor),
        rss_floor_bytes=tuple(int(v) for v in rss),
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


def test_new_scenario_takes_runs_and_is_not_written_without_update(tmp_path: Path) -> None:
    requests: list[RunRequest] = []
    gate = session(tmp_path, runner(record, requests))
    result = gate.measure("t.py::test_a", ScenarioSpec(iterations=20, warmup=2), body)
    assert result.outcome is Outcome.NEW and len(result.records) == 2
    assert requests[0].project_root == str(tmp_path) and requests[0].iterations == 20
    assert gate.failure(result) is None
    gate.write_baseline()
    assert gate.written == [] and not (tmp_path / ".memgate").exists()
    strict = session(tmp_path, runner(record), strict=True)
    assert strict.failure(strict.measure("t.py::test_a", ScenarioSpec(), body)) is Failure.STRICT_NEW


def test_unchanged_scenario_passes_after_one_run(tmp_path: Path) -> None:
    record_baseline(tmp_path)
    gate = session(tmp_path, runner(record))
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert (result.outcome, len(result.records)) == (Outcome.PASS, 1)
    assert result.baseline is not None and len(result.baseline.runs) == 6
    from pytest_memgate.reports.words import finding_text

    texts = [finding_text(f) for f in result.verdict.findings if f.comparison is not None]
    assert texts and all(" over 1 run against 6 baseline runs; " in text for text in texts)


def test_a_leak_needs_its_confirming_run_and_is_never_written(tmp_path: Path) -> None:
    record_baseline(tmp_path)
    gate = session(tmp_path, runner(lambda rng: record(rng, leak=4096)), update=True)
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert result.outcome is Outcome.REGRESSION
    assert Reason.GROWTH in result.verdict.reasons
    assert len(result.records) == 6  # an update records baseline_runs whatever the verdict
    assert gate.failure(result) is Failure.VERDICT
    text = failure_text(result)
    assert text.splitlines()[0] == "memgate: REGRESSION (heap growth) in t.py::test_a"
    before = (tmp_path / ".memgate/baseline.json").read_text()
    gate.write_baseline()
    assert gate.not_written == [("t.py::test_a", "regression")]
    assert (tmp_path / ".memgate/baseline.json").read_text() == before


def test_a_leaking_site_moved_by_an_added_line_is_compared_with_its_baseline_figure(tmp_path: Path) -> None:
    from dataclasses import replace

    from pytest_memgate.model import AllocSite

    record_baseline(tmp_path)
    gate = session(tmp_path, runner(lambda rng: record(rng, leak=4096)))
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert result.outcome is Outcome.REGRESSION and result.baseline is not None
    old = (
        AllocSite("quote", "shop/cache.py", 12, 2 * MiB, 1),
        AllocSite("quote", "shop/cache.py", 15, MiB, 1),
    )
    new = (
        AllocSite("quote", "shop/cache.py", 13, 9 * MiB, 1),
        AllocSite("quote", "shop/cache.py", 16, 4 * MiB, 2),
        AllocSite("render", "shop/page.py", 3, MiB, 3),
    )
    moved = replace(
        result,
        records=(replace(result.records[0], retained_sites=new), *result.records[1:]),
        baseline=replace(result.baseline, retained_sites=old),
    )
    lines = failure_text(moved).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  Memory still allocated"))
    assert [line.split(": ", 1)[1] for line in lines[start + 1 : start + 4]] == [
        "quote at shop/cache.py:13 (baseline 2.00 MiB, moved from line 12)",
        "quote at shop/cache.py:16 (baseline 1.00 MiB, moved from line 15)",
        "render at shop/page.py:3 (not in the baseline's top sites)",
    ]
    assert " in 1 allocation: quote" in lines[start + 1] and " in 2 allocations: " in lines[start + 2]


def test_without_update_a_deterministic_jump_stops_once_odd_runs_cannot_explain_it(tmp_path: Path) -> None:
    """A peak on a level the baseline never showed is confirmed until odd runs (at most one
    in n+2) cannot explain it: three runs for one scenario, not the whole schedule."""
    record_baseline(tmp_path)
    gate = session(tmp_path, runner(lambda rng: record(rng, peak=16 * MiB)))
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert (result.outcome, len(result.records)) == (Outcome.REGRESSION, 3)
    assert result.verdict.reasons == (Reason.PEAK,)


def test_accepted_increase_passes_and_is_recorded_with_its_reason(tmp_path: Path) -> None:
    record_baseline(tmp_path)
    gate = session(
        tmp_path, runner(lambda rng: record(rng, peak=16 * MiB)), accept=("t.py::*",), reason="bigger pages"
    )
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert result.outcome is Outcome.REGRESSION and gate.failure(result) is None
    gate.write_baseline()
    entry = json.loads((tmp_path / ".memgate/baseline.json").read_text())["scenarios"]["t.py::test_a"]
    assert entry["recorded"]["accepted"]["reason"] == "bigger pages"
    assert entry["recorded"]["accepted"]["previous_peak_bytes"] == 8 * MiB
    assert len(entry["runs"]) == 6


def test_a_failed_run_is_an_error_that_names_the_run(tmp_path: Path) -> None:
    crashed = RunRecord(RunStatus.CRASHED, "memray", error="crashed with signal SIGSEGV")
    gate = session(tmp_path, runner(lambda rng: crashed), update=True)
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert (result.outcome, result.verdict.reasons, len(result.records)) == (
        Outcome.ERROR,
        (Reason.CRASHED,),
        1,
    )
    assert gate.failure(result) is Failure.VERDICT
    assert "run 1 crashed: crashed with signal SIGSEGV" in failure_text(result)
    gate.write_baseline()
    assert gate.not_written == [("t.py::test_a", "error")]


@pytest.mark.parametrize(
    ("policy", "outcome", "compared"),
    [("skip", Outcome.SKIPPED, False), ("warn", Outcome.PASS, True), ("fail", Outcome.ERROR, False)],
)
def test_environment_mismatch_policy(tmp_path: Path, policy: str, outcome: Outcome, compared: bool) -> None:
    record_baseline(tmp_path)
    path = tmp_path / ".memgate/baseline.json"
    document = json.loads(path.read_text())
    document["scenarios"]["t.py::test_a"]["environment"]["python"] = "2.7.18"
    path.write_text(json.dumps(document))
    gate = session(tmp_path, runner(record), env_mismatch=policy)
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert result.outcome is outcome
    assert (result.baseline is not None) is compared
    # (a thread left by an earlier test in this process adds a THREADS note: not this test's concern)
    assert [n.kind for n in result.notes if n.kind is not NoteKind.THREADS] == [NoteKind.ENVIRONMENT]
    assert result.notes[0].differences[0][:2] == ("python", "2.7.18")


def _other_environment(tmp_path: Path) -> None:
    path = tmp_path / ".memgate/baseline.json"
    document = json.loads(path.read_text())
    document["scenarios"]["t.py::test_a"]["environment"]["python"] = "2.7.18"
    path.write_text(json.dumps(document))


def test_a_skipped_scenario_is_re_recorded_only_on_explicit_update(tmp_path: Path) -> None:
    """An update branch never replaces an entry it could not compare; --memgate-update does,
    and says so."""
    record_baseline(tmp_path)
    _other_environment(tmp_path)
    branch = session(tmp_path, runner(lambda rng: record(rng, leak=4096)), update_branches=("*",))
    branch.environ = {"GITHUB_ACTIONS": "true", "GITHUB_REF_NAME": "main"}
    assert branch.measure("t.py::test_a", ScenarioSpec(), body).outcome is Outcome.SKIPPED
    branch.write_baseline()
    assert branch.written == [] and branch.not_written == [("t.py::test_a", "skipped")]
    explicit = session(tmp_path, runner(record), update=True)
    assert explicit.measure("t.py::test_a", ScenarioSpec(), body).outcome is Outcome.SKIPPED
    explicit.write_baseline()
    assert explicit.written == [
        ("t.py::test_a", "--memgate-update, re-recorded here: the old entry was not compared")
    ]
    lines = summary_lines(explicit.report())
    assert any("skipped: environment differs: python 2.7.18 -> " in line for line in lines)
    assert lines[-1] == "memgate: 1 skipped, skipped scenarios were NOT compared with their baseline"


def test_a_family_of_sizes_is_judged_once_every_size_is_measured(tmp_path: Path) -> None:
    sizes = (1000, 2000, 4000)
    spec = ScenarioSpec(sizes=sizes, max_exponent=1.5)
    gate = session(tmp_path, lambda body, request, timeout: RunRecord(RunStatus.OK, "memray"))
    results = []
    for n in sizes:
        gate.run = runner(lambda rng, n=n: record(rng, peak=n * n * 16.0))
        results.append(gate.measure(f"t.py::test_s[n={n}]", spec, body, family=("t.py::test_s", n)))
    assert [r.scaling is None for r in results] == [True, True, False]
    last = results[-1]
    assert last.scaling is not None and abs(last.scaling.fit.exponent - 2.0) < 0.05
    assert last.outcome is Outcome.REGRESSION and last.verdict.reasons == (Reason.BUDGET,)
    assert all(len(r.records) >= 2 for r in results)  # each size takes at least `runs`


def test_results_travel_between_xdist_workers_intact(tmp_path: Path) -> None:
    record_baseline(tmp_path)
    worker = session(tmp_path, runner(lambda rng: record(rng, peak=16 * MiB)))
    worker.collected = {"t.py::test_a"}
    original = worker.measure("t.py::test_a", ScenarioSpec(), body)
    controller = session(tmp_path, runner(record))
    controller.merge(json.loads(json.dumps(worker.export())))
    shipped = controller.results["t.py::test_a"]
    # NaN (a rate has no ratio interval) is never equal to itself: compare the JSON forms.
    assert json.dumps(shipped.to_dict()) == json.dumps(original.to_dict())
    assert (shipped.outcome, shipped.summaries, shipped.records) == (
        original.outcome,
        original.summaries,
        original.records,
    )
    assert failure_text(shipped) == failure_text(original)
    assert build_report(controller.report())["scenarios"][0]["message"].startswith("heap peak grew")


def test_summary_renders_from_the_report_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record_baseline(tmp_path, "t.py::test_gone")
    gate = session(tmp_path, runner(record), update_branches=("main",))
    gate.collected = {"t.py::test_a"}
    gate.measure("t.py::test_a", ScenarioSpec(), body)
    report = gate.report()
    assert report.stale == ("t.py::test_gone",)

    def no_io(*args: object, **kwargs: object) -> None:
        raise AssertionError("a renderer did I/O")

    monkeypatch.setattr("subprocess.run", no_io)
    monkeypatch.setattr("pathlib.Path.exists", no_io)
    lines = summary_lines(report)
    assert any(line.startswith("t.py::test_a  new") for line in lines)
    assert any("matches none of update_branches ['main']" in line for line in lines)
    assert any("1 scenario(s) with no test in this session: t.py::test_gone" in line for line in lines)


def test_summary_table_shows_each_metric_from_baseline_to_current_and_marks_the_failures(
    tmp_path: Path,
) -> None:
    import re

    record_baseline(tmp_path)
    gate = session(tmp_path, runner(lambda rng: record(rng, leak=4096)))
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert result.outcome is Outcome.REGRESSION and result.baseline is not None
    lines = summary_lines(gate.report())
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["scenario", "verdict"])
    assert re.split(r"\s{2,}", lines[header].strip()) == [
        "scenario", "verdict", "heap peak", "vs base", "growth/call", "vs base",
        "RSS peak", "vs base", "runs", "shape",
    ]  # fmt: skip
    row = lines[header + 2]
    assert row.startswith("FAIL  t.py::test_a  regression (growth)")
    cells = re.split(r"\s{2,}", row)
    growth = next(f.comparison for f in result.verdict.regressed if f.metric is Metric.HEAP_GROWTH)
    assert growth is not None
    was, now = (format_size(v, signed=True) for v in (growth.baseline, result.median("heap_growth")))
    assert cells[5] == f"{was.split()[0] if was.split()[1] == now.split()[1] else was} -> {now}"
    assert cells[6] == format_size(growth.delta, signed=True) + " !"
    assert " -> " in cells[3] and " -> " in cells[7]  # the peaks too, from the baseline's
    assert lines[header + 3].startswith("marks: ! regression (proven)")
