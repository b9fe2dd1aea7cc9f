"""The session's orchestration with an injected run function: milliseconds, no fork, no memray.

The slow pytester tests check the wiring; these check what the session does with runs:
how many it takes, what it compares with, what it writes, and what it hands to xdist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.sessions import MiB, body, record, record_baseline, runner, session

from pytest_memgate.backends import BackendChoice
from pytest_memgate.branches import BranchInfo, current_branch
from pytest_memgate.config import GateConfig
from pytest_memgate.failing import Failure
from pytest_memgate.marker import ScenarioSpec
from pytest_memgate.model import RunRecord, RunRequest, RunStatus
from pytest_memgate.recording import held_update, update_reason
from pytest_memgate.reports.json import build_report
from pytest_memgate.reports.terminal import failure_text, summary_lines
from pytest_memgate.results import Doubt, Metric, NoteKind, Outcome, Reason, ScreenDoubt, Verdict
from pytest_memgate.session import GateSession
from pytest_memgate.units import format_size


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
    """One full run, compared with the entry's six (the cheap first look is tested below)."""
    record_baseline(tmp_path)
    gate = session(tmp_path, runner(record), screen=False)
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
    """A peak on a level the baseline never showed is confirmed until odd runs, whatever
    their share, cannot explain it: four runs for one scenario, not the whole schedule."""
    record_baseline(tmp_path)
    gate = session(tmp_path, runner(lambda rng: record(rng, peak=16 * MiB)))
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert (result.outcome, len(result.records)) == (Outcome.REGRESSION, 4)
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


def test_an_exact_parametrized_id_accepts_itself(tmp_path: Path) -> None:
    """``[20000]`` in a node id is the parameter, not a glob character class."""
    nodeid = "t.py::test_a[20000]"
    record_baseline(tmp_path, nodeid)
    gate = session(
        tmp_path, runner(lambda rng: record(rng, peak=16 * MiB)), accept=(nodeid,), reason="bigger pages"
    )
    result = gate.measure(nodeid, ScenarioSpec(), body)
    assert result.outcome is Outcome.REGRESSION and gate.failure(result) is None
    gate.write_baseline()
    assert gate.written == [(nodeid, "accepted (bigger pages)")]


@pytest.mark.parametrize(
    ("outcome", "advice"),
    [
        ("error", "it erred, so there are no figures to record; fix the error and rerun"),
        ("regression", "it regressed; fix it, or record the increase on purpose with --memgate-accept "),
        ("inconclusive", "it is inconclusive: an increase neither proven nor ruled out; rerun to settle"),
        ("skipped", "its baseline entry was not compared"),
    ],
)
def test_an_update_says_per_outcome_what_to_do_with_a_scenario_it_did_not_write(
    tmp_path: Path, outcome: str, advice: str
) -> None:
    from dataclasses import replace

    gate = session(tmp_path, runner(record), update_branches=("main",))
    gate.measure("t.py::test_a[1]", ScenarioSpec(), body)
    report = gate.report()

    lines = summary_lines(replace(report, not_written=(("t.py::test_a[1]", outcome),)))
    (line,) = [line for line in lines if line.startswith("baseline NOT updated")]
    assert line.startswith(f"baseline NOT updated for t.py::test_a[1]: {advice}")
    assert ("--memgate-accept 't.py::test_a[1]'" in line) is (outcome in ("regression", "inconclusive"))


def test_an_update_moves_an_unreadable_baseline_aside_and_records_afresh(tmp_path: Path) -> None:
    """The error's advice works: --memgate-update keeps the broken file under another name
    (never deleted) and records a new baseline; without it the file is left untouched."""
    from pytest_memgate.baseline import load_baseline
    from pytest_memgate.errors import BaselineError

    path = tmp_path / ".memgate" / "baseline.json"
    path.parent.mkdir()
    path.write_text('{"scenarios": {')
    with pytest.raises(BaselineError, match="--memgate-update to move it aside and record afresh"):
        session(tmp_path, runner(record)).baseline  # noqa: B018
    assert path.read_text() == '{"scenarios": {'
    gate = session(tmp_path, runner(record), update=True)
    assert gate.measure("t.py::test_a", ScenarioSpec(), body).outcome is Outcome.NEW
    gate.write_baseline()
    aside = list(path.parent.glob("baseline.json.corrupt-*"))
    assert [p.read_text() for p in aside] == ['{"scenarios": {']
    assert list(load_baseline(path).entries) == ["t.py::test_a"]
    lines = summary_lines(gate.report())
    assert any(
        f"moved aside to .memgate/{aside[0].name}" in line and "not valid JSON" in line for line in lines
    )


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
    # (a thread left by an earlier test in this process adds a THREADS note, and a compared
    # scenario may pass on its cheap first look: neither is this test's concern)
    others = (NoteKind.THREADS, NoteKind.SCREENED)
    assert [n.kind for n in result.notes if n.kind not in others] == [NoteKind.ENVIRONMENT]
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
    # The exponent is in the terminal summary too, not only in the JSON and HTML reports.
    fit = last.scaling.fit
    expected = (
        f"t.py::test_s: peak grows as n^{fit.exponent:.2f} (95% CI {fit.low:.2f} to {fit.high:.2f}) "
        "over sizes 1,000, 2,000, 4,000; no baseline exponent"
    )
    assert expected in summary_lines(gate.report())


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


@pytest.mark.parametrize(
    ("branch", "writes", "held"),
    [
        (BranchInfo("main", "git", ci=False), False, True),
        (BranchInfo("main", "git", ci=True), True, False),
        (BranchInfo("main", "GitHub Actions GITHUB_REF_NAME", ci=True), True, False),
        (BranchInfo("feature/x", "git", ci=True), False, False),
    ],
)
def test_an_update_branch_writes_only_in_ci(branch: BranchInfo, writes: bool, held: bool) -> None:
    config = GateConfig(enabled=True, update_branches=("main",))
    assert (update_reason(config, branch) is not None) is writes
    assert (held_update(config, branch) is not None) is held
    explicit = replace(config, update=True)
    assert update_reason(explicit, branch) == "--memgate-update"
    assert held_update(explicit, branch) is None


def test_ci_is_read_from_the_ci_variable_too(tmp_path: Path) -> None:
    assert current_branch(tmp_path, {"CI": "true"}).ci
    assert not current_branch(tmp_path, {"CI": "false"}).ci
    assert current_branch(tmp_path, {"GITHUB_ACTIONS": "true", "GITHUB_REF_NAME": "main"}).ci


RELEASE_CI = {"GITHUB_ACTIONS": "true", "GITHUB_REF_NAME": "release/1.2"}


def test_a_release_branch_refresh_adds_its_runs_to_a_rolling_window(tmp_path: Path) -> None:
    """A refresh costs what the gate's run costs: a passing scenario takes its usual run and
    that run joins the entry's, the oldest dropping out; the acceptance trail stays."""
    record_baseline(tmp_path)
    path = tmp_path / ".memgate" / "baseline.json"
    data = json.loads(path.read_text())
    data["scenarios"]["t.py::test_a"]["recorded"]["accepted"] = {"reason": "pages are larger"}
    path.write_text(json.dumps(data))
    before = GateSession(GateConfig(enabled=True, rootdir=tmp_path), BackendChoice("memray", "t")).baseline
    old_runs = before.entries["t.py::test_a"].runs

    gate = session(tmp_path, runner(record), update_branches=("release/*",), screen=False)
    gate.environ = RELEASE_CI
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert result.outcome is Outcome.PASS and len(result.records) == 1
    gate.write_baseline()
    assert gate.written == [
        (
            "t.py::test_a",
            "branch 'release/1.2' (GitHub Actions GITHUB_REF_NAME) matches update_branches "
            "'release/*'; 1 run(s) added, the entry keeps its last 6",
        )
    ]
    entry = gate.baseline.entries["t.py::test_a"]
    assert entry.runs == (*old_runs[1:], *result.summaries)
    assert entry.recorded["accepted"] == {"reason": "pages are larger"}
    assert entry.recorded["branch"] == "release/1.2"


def test_an_explicit_update_re_records_the_whole_entry(tmp_path: Path) -> None:
    record_baseline(tmp_path)
    gate = session(tmp_path, runner(record), update=True)
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert len(result.records) == 6
    gate.write_baseline()
    assert gate.baseline.entries["t.py::test_a"].runs == result.summaries


def test_a_new_scenario_on_a_release_branch_is_recorded_in_full(tmp_path: Path) -> None:
    gate = session(tmp_path, runner(record), update_branches=("release/*",))
    gate.environ = RELEASE_CI
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert result.outcome is Outcome.NEW and len(result.records) == 6


def test_a_recording_takes_cheap_runs_for_later_first_looks(tmp_path: Path) -> None:
    requests: list[RunRequest] = []
    gate = session(tmp_path, runner(record, requests), update=True)
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert [r.traced_calls for r in requests] == [0] * 6 + [2] * 3  # 2: a cheap run
    assert len(result.records) == 6 and len(result.screen) == 3 and not result.screened
    gate.write_baseline()
    entry = gate.baseline.entries["t.py::test_a"]
    assert entry.screen_runs == result.screen and entry.runs == result.summaries
    assert all(r.blocks_growth == 0.0 for r in entry.screen_runs)


def test_a_clear_first_look_passes_on_one_cheap_run(tmp_path: Path) -> None:
    record_baseline(tmp_path)
    requests: list[RunRequest] = []
    gate = session(tmp_path, runner(record, requests))
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert [r.traced_calls for r in requests] == [2]
    assert result.outcome is Outcome.PASS and result.screened and len(result.records) == 1
    # (a thread left by an earlier test in this process adds a THREADS note: not this test's concern)
    assert [n.kind for n in result.notes if n.kind is not NoteKind.THREADS] == [NoteKind.SCREENED]
    assert json.loads(json.dumps(result.to_dict()))["screened"] is True


def test_small_objects_a_first_look_cannot_weigh_go_to_the_full_runs(tmp_path: Path) -> None:
    """128 bytes a call in small objects are a block a call, which a cheap run's malloc floor
    does not see: the first look cannot vouch for them (up to 512 bytes a block), so the
    full runs judge, and pass them (under the 256 B/call tolerance)."""
    record_baseline(tmp_path)
    requests: list[RunRequest] = []
    gate = session(tmp_path, runner(lambda rng: record(rng, leak=128), requests))
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert requests[0].traced_calls == 2
    assert all(r.traced_calls == 0 for r in requests[1:]) and len(requests) > 1
    assert not result.screened and len(result.screen) == 1
    assert result.outcome is Outcome.PASS


def test_a_fall_on_the_first_look_goes_on_to_the_full_runs_which_record_it(tmp_path: Path) -> None:
    """An improvement is not a clear pass: the full runs prove it, and a release branch then
    tightens the entry instead of keeping room for the old figure."""
    gate = session(tmp_path, runner(lambda rng: record(rng, leak=2048)), update=True)
    gate.measure("t.py::test_a", ScenarioSpec(), body)
    gate.write_baseline()
    requests: list[RunRequest] = []
    progress = Looks()
    gate = session(tmp_path, runner(record, requests))
    gate.progress = progress
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert requests[0].traced_calls == 2 and len(requests) > 1
    assert not result.screened and result.outcome is Outcome.IMPROVED
    # Proven on the one cheap run already (this simulation's noise is small), so the look
    # itself was not a pass; tests/unit/test_verdict.py has a fall one run cannot prove.
    assert [d.kind if d else None for d in progress.doubts] == [Doubt.UNCLEAR]


class Looks:
    """A progress listener that keeps the cheap first look's doubt."""

    def __init__(self) -> None:
        self.doubts: list[ScreenDoubt | None] = []

    def looked(
        self, nodeid: str, runs: int, verdict: Verdict, stopping: bool, doubt: ScreenDoubt | None = None
    ) -> None:
        if runs == 0:
            self.doubts.append(doubt)

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def test_the_first_look_can_be_switched_off(tmp_path: Path) -> None:
    record_baseline(tmp_path)
    requests: list[RunRequest] = []
    gate = session(tmp_path, runner(record, requests), screen=False)
    assert gate.measure("t.py::test_a", ScenarioSpec(), body).outcome is Outcome.PASS
    assert all(r.traced_calls == 0 for r in requests)


def test_a_refresh_that_passed_its_first_look_adds_a_cheap_run_only(tmp_path: Path) -> None:
    record_baseline(tmp_path)
    old = GateSession(GateConfig(enabled=True, rootdir=tmp_path), BackendChoice("memray", "t")).baseline
    old_entry = old.entries["t.py::test_a"]
    gate = session(tmp_path, runner(record), update_branches=("release/*",))
    gate.environ = RELEASE_CI
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert result.screened
    gate.write_baseline()
    entry = gate.baseline.entries["t.py::test_a"]
    assert entry.runs == old_entry.runs and entry.peak_sites == old_entry.peak_sites
    assert entry.screen_runs == (*old_entry.screen_runs, *result.screen)
    assert gate.written[0][1].endswith("1 cheap run(s) added, the entry keeps its last 4")


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


def test_the_summary_table_marks_every_scenario_that_fails_its_test(tmp_path: Path) -> None:
    """A new scenario under --memgate-strict fails its test, so its row says FAIL; without
    strict the same row is not marked (and no FAIL column is shown)."""
    strict = session(tmp_path, runner(record), strict=True)
    strict.measure("t.py::test_a", ScenarioSpec(), body)
    row = next(line for line in summary_lines(strict.report()) if "t.py::test_a" in line)
    assert row.startswith("FAIL  t.py::test_a  new")
    plain = session(tmp_path, runner(record))
    plain.measure("t.py::test_a", ScenarioSpec(), body)
    row = next(line for line in summary_lines(plain.report()) if "t.py::test_a" in line)
    assert row.startswith("t.py::test_a  new")


def test_an_improvement_on_a_release_branch_is_written_with_three_cheap_runs(tmp_path: Path) -> None:
    """An improvement writes its entry anew: it takes the cheap runs a new entry needs, not
    only the one its first look took."""
    record_baseline(tmp_path)
    gate = session(tmp_path, runner(lambda rng: record(rng, peak=4 * MiB)), update_branches=("release/*",))
    gate.environ = RELEASE_CI
    result = gate.measure("t.py::test_a", ScenarioSpec(), body)
    assert result.outcome is Outcome.IMPROVED and len(result.screen) == 3
    gate.write_baseline()
    assert len(gate.baseline.entries["t.py::test_a"].screen_runs) == 3
