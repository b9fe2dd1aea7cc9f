"""The cheap first look end to end, under real memray: an entry recorded with cheap runs,
an unchanged scenario passing on one of them, and growth hidden in pymalloc's arenas going
on to the traced runs, which catch it."""

from __future__ import annotations

import json

import pytest
from helpers.pytester_runs import record_baseline, run

pytestmark = pytest.mark.slow


def test_an_unchanged_scenario_passes_on_one_cheap_run(pytester: pytest.Pytester) -> None:
    baseline = record_baseline(pytester)
    entry = json.loads(baseline.read_text())["scenarios"]["test_scenario.py::test_handler"]
    assert len(entry["screen_runs"]) == 3
    assert all(abs(r["blocks_growth"]) < 0.5 for r in entry["screen_runs"])
    # A clear pass is a measurement, so a busy machine can make one look unclear (the line
    # says why, and the traced runs follow); the promise is that it is rare, so a second
    # session is allowed, never a third. Its baseline is recorded afresh: the cheap look
    # compares with the baseline's three cheap runs, and one of them that scattered (seen
    # once in a fresh-clone run: +24 B/call against an interval reaching 256 B/call, in both
    # sessions on the same shared recording) makes every look against them unclear.
    for attempt in (1, 2):
        if attempt == 2:
            record_baseline(pytester, fresh=True)
        result = run(pytester, "--memgate", "-v", "--memgate-report", "r.json")
        assert result.ret == pytest.ExitCode.OK, result.stdout.str()
        if "look first (cheap): pass" in result.stdout.str() or attempt == 2:
            break
        print("first session's look was not a clear pass:", result.stdout.str())
    result.stdout.fnmatch_lines(["*cheap run: heap peak*", "*look first (cheap): pass*"])
    (scenario,) = json.loads((pytester.path / "r.json").read_text())["scenarios"]
    assert scenario["screened"] is True and scenario["runs"] == 1
    assert scenario["notes"][0].startswith("passed on the cheap first look")


def test_small_objects_hidden_in_arenas_go_on_to_the_traced_runs(pytester: pytest.Pytester) -> None:
    """600 bytes a call in two 300-byte objects: 12 KiB over the run, inside one arena, so
    the cheap run's heap does not move, but its block count rises by two a call."""
    record_baseline(pytester)
    result = run(pytester, "--memgate", "-v", plant="small")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            # the blocks rule, or the RSS floor when the arena's pages show (either says why)
            "*look first (cheap): not a clear pass (*): traced runs follow*",
            "*regression (growth)*",
        ]
    )
