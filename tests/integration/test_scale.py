"""What a long session keeps in the pytest process: results, not each run's timeline.

``benchmarks/xdist_scale.py`` measures the pytest process's RSS over 300 scenarios; this
test holds the cause of most of its former growth (a run's timeline of up to 400 samples,
some 30 KiB each, kept after the verdict) to account.
"""

from __future__ import annotations

import pytest
from helpers.pytester_runs import run

pytestmark = pytest.mark.slow

# Prints, at the end of the session, how many timeline samples the gate still holds.
COUNT_TIMELINES = """
import pytest
from pytest_memgate.plugin import GATE

@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    gate = session.config.stash[GATE]
    samples = sum(len(r.timeline) for result in gate.results.values() for r in result.records)
    runs = sum(len(result.records) for result in gate.results.values())
    print(f"\\nkept: {runs} runs, {samples} timeline samples")
"""

SCENARIOS = """
import pytest

@pytest.mark.memload(iterations=5, warmup=0)
@pytest.mark.parametrize("k", range(2))
def test_rows(k):
    return [[i, str(i)] for i in range(200)]
"""


def test_timelines_are_dropped_once_judged_unless_a_report_charts_them(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(COUNT_TIMELINES)
    pytester.makepyfile(test_rows=SCENARIOS)
    plain = run(pytester, "--memgate", "-s")
    assert plain.ret == pytest.ExitCode.OK, plain.stdout.str()
    plain.stdout.re_match_lines([r"kept: [1-9]\d* runs, 0 timeline samples"])
    reported = run(pytester, "--memgate", "-s", "--memgate-report", "r.json")
    assert reported.ret == pytest.ExitCode.OK, reported.stdout.str()
    reported.stdout.re_match_lines([r"kept: [1-9]\d* runs, [1-9]\d* timeline samples"])
