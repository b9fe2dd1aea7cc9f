"""The family the false-alarm rate is shared over is the whole suite, not one CI shard.

With an injected run function (no fork): the suite size moves the per-test level, and with
it how many runs a regression needs and whether it is proven at all; a configured size
wins over the count, and one smaller than the run's own selection is refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.sessions import body, record, record_baseline, runner, session

from pytest_memgate.errors import ConfigError
from pytest_memgate.marker import ScenarioSpec
from pytest_memgate.reports.json import build_report
from pytest_memgate.reports.terminal import summary_lines
from pytest_memgate.results import Outcome
from pytest_memgate.stats import bonferroni
from pytest_memgate.verdict import COMPARISONS


def test_the_suite_size_sets_the_level_and_changes_the_verdict(tmp_path: Path) -> None:
    """The same slightly leaking runs: proven in two runs when the scenario is alone, in four
    in a suite of a million, and never in an absurdly large one (inconclusive after max_runs)."""
    record_baseline(tmp_path)
    leaking = runner(lambda rng: record(rng, leak=300))
    outcomes = []
    for size in (None, 10**6, 10**15):
        gate = session(tmp_path, leaking, suite_size=size)
        result = gate.measure("t.py::test_a", ScenarioSpec(), body)
        outcomes.append((result.outcome, len(result.records)))
        expected = bonferroni(0.01, (size or 1) * COMPARISONS * len(gate.looks))
        assert gate.policy.alpha == pytest.approx(expected)
    assert outcomes == [(Outcome.REGRESSION, 2), (Outcome.REGRESSION, 4), (Outcome.INCONCLUSIVE, 8)]


def test_the_count_collected_is_used_unless_a_size_is_configured(tmp_path: Path) -> None:
    counted = session(tmp_path, runner(record))
    counted.scenario_count = 12  # collected before -k deselection left 3 to run
    counted.collected = {"t.py::a", "t.py::b", "t.py::c"}
    counted.check_suite_size()
    assert (counted.suite_size, counted.suite_size_source) == (12, "collected")
    configured = session(tmp_path, runner(record), suite_size=40)
    configured.scenario_count = 12
    assert (configured.suite_size, configured.suite_size_source) == (40, "configured")
    assert configured.policy.alpha == pytest.approx(counted.policy.alpha * 12 / 40)
    document = build_report(configured.report())
    assert (document["suite_size"], document["suite_size_source"]) == (40, "configured")
    assert document["alpha_per_test"] == pytest.approx(configured.policy.alpha)


def test_a_suite_smaller_than_the_selection_is_refused(tmp_path: Path) -> None:
    gate = session(tmp_path, runner(record), suite_size=2)
    gate.collected = {"t.py::a", "t.py::b", "t.py::c"}
    with pytest.raises(ConfigError, match="suite_size is 2, fewer than the 3 memload scenarios"):
        gate.check_suite_size()


def test_xdist_workers_hand_the_suite_count_to_the_controller(tmp_path: Path) -> None:
    """Each worker collects the whole suite; the controller, which collects nothing, judges
    and reports with the count the workers send."""
    worker = session(tmp_path, runner(record))
    worker.scenario_count = 9
    controller = session(tmp_path, runner(record))
    controller.scenario_count = 0
    controller.merge(worker.export())
    assert controller.suite_size == 9
    assert build_report(controller.report())["suite_size"] == 9


def test_a_partial_selection_is_judged_at_the_baseline_s_suite_size(tmp_path: Path) -> None:
    """``--lf`` or a node id collects only part of the suite: the baseline knows how many
    scenarios it holds, and the level per test stays the whole suite's."""
    for name in ("a", "b", "c", "d"):
        record_baseline(tmp_path, f"t.py::test_{name}")
    partial = session(tmp_path, runner(record))
    partial.scenario_count = 1
    partial.collected = {"t.py::test_a"}
    assert (partial.suite_size, partial.suite_size_source) == (4, "baseline")
    whole = session(tmp_path, runner(record))
    whole.scenario_count = 5  # one new scenario besides the four recorded
    assert (whole.suite_size, whole.suite_size_source) == (5, "collected")
    assert partial.policy.alpha == pytest.approx(whole.policy.alpha * 5 / 4)
    partial.measure("t.py::test_a", ScenarioSpec(), body)
    line = summary_lines(partial.report())[0]
    assert "looks; suite size: the baseline's 4 scenarios, as this run collected only 1)" in line
    assert build_report(partial.report())["suite_size_source"] == "baseline"


def test_a_partial_selection_lists_no_stale_entries(tmp_path: Path) -> None:
    for name in ("a", "b"):
        record_baseline(tmp_path, f"t.py::test_{name}")
    (tmp_path / "t.py").write_text("")
    gate = session(tmp_path, runner(record))
    gate.collected = {"t.py::test_a"}
    assert gate.stale_entries() == ["t.py::test_b"]  # the file was collected without it
    gate.whole_suite = False
    assert gate.stale_entries() == []
    assert not any("memgate prune" in line for line in summary_lines(gate.report()))


@pytest.mark.parametrize(
    ("args", "whole"),
    [
        ((), True),
        (("test_x.py",), True),
        (("-k", "a"), True),
        (("test_x.py::test_a",), False),
        (("--lf",), False),
    ],
)
def test_a_run_knows_whether_it_collects_the_whole_suite(
    pytester: pytest.Pytester, args: tuple[str, ...], whole: bool
) -> None:
    from pytest_memgate.plugin import collects_whole_suite

    pytester.makepyfile(test_x="def test_a():\n    pass\n")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    config = pytester.parseconfigure(*args)
    if "--lf" in args:  # a failure on record, as a previous run leaves it
        assert config.cache is not None
        config.cache.set("cache/lastfailed", {"test_x.py::test_a": True})
        config = pytester.parseconfigure(*args)
    assert collects_whole_suite(config) is whole
