"""A suite split across CI shards with ``-k``: real memray runs, tiny scenarios.

Each shard counts the whole suite at collection (``-k`` deselects afterwards), so both
judge at the level one run of the suite would; their reports and their baseline updates
merge into one. ``--memgate-suite-size`` overrides the count for shards selected by path.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.pytester_runs import run

from pytest_memgate.cli import main
from pytest_memgate.schedule import look_schedule
from pytest_memgate.stats import bonferroni
from pytest_memgate.verdict import COMPARISONS

pytestmark = pytest.mark.slow

SUITE = """
import pytest

@pytest.mark.memload(iterations=5, warmup=1)
def test_alpha():
    bytearray(4096)

@pytest.mark.memload(iterations=5, warmup=1)
def test_beta():
    bytearray(4096)

@pytest.mark.memload(iterations=5, warmup=1)
def test_gamma():
    bytearray(4096)

def test_plain():
    assert True
"""
# One run a scenario, also when it is written into the baseline.
FAST = ("--memgate", "--memgate-backend", "memray", "--memgate-runs", "1", "--memgate-baseline-runs", "1")
LOOKS = len(look_schedule(1, 8, first=1))  # runs = min_runs = 1, max_runs = 8


def _shard(pytester: pytest.Pytester, name: str, select: str, *extra: str) -> pytest.RunResult:
    return run(
        pytester,
        *FAST,
        "-k",
        select,
        "--memgate-report",
        f"{name}/report.json",
        "--memgate-baseline",
        f"{name}/baseline.json",
        *extra,
    )


def test_two_k_shards_share_the_suite_rate_and_merge(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    reports = []
    for name, select, selected in (("one", "alpha", 1), ("two", "not alpha and not plain", 2)):
        result = _shard(pytester, name, select, "--memgate-update")
        assert result.ret == pytest.ExitCode.OK, result.stdout.str()
        result.stdout.fnmatch_lines(["*(3 scenario(s) x 4 metrics x*"])
        report = json.loads((pytester.path / name / "report.json").read_text())
        assert len(report["scenarios"]) == selected
        assert (report["suite_size"], report["suite_size_source"]) == (3, "collected")
        assert report["alpha_per_test"] == pytest.approx(bonferroni(0.01, 3 * COMPARISONS * LOOKS))
        reports.append(pytester.path / name / "report.json")

    merged = pytester.path / "merged.json"
    assert main(["merge", *map(str, reports), "-o", str(merged)]) == 0
    document = json.loads(merged.read_text())
    assert [s["id"] for s in document["scenarios"]] == [
        f"test_suite.py::test_{name}" for name in ("alpha", "beta", "gamma")
    ]
    assert document["suite_size"] == 3
    assert main(["report", str(merged), "--format", "md", "-o", str(pytester.path / "merged.md")]) == 0

    baseline = pytester.path / ".memgate" / "baseline.json"
    shard_baselines = [str(pytester.path / name / "baseline.json") for name in ("one", "two")]
    assert main(["merge", "--baseline", str(baseline), *shard_baselines]) == 0
    entries = json.loads(baseline.read_text())["scenarios"]
    assert sorted(entries) == [f"test_suite.py::test_{name}" for name in ("alpha", "beta", "gamma")]


def test_suite_size_overrides_the_count_and_sets_the_level(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = _shard(pytester, "one", "alpha", "--memgate-suite-size", "30")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["*(30 scenario(s) x 4 metrics x*"])
    report = json.loads((pytester.path / "one" / "report.json").read_text())
    assert (report["suite_size"], report["suite_size_source"]) == (30, "configured")
    assert report["alpha_per_test"] == pytest.approx(bonferroni(0.01, 30 * COMPARISONS * LOOKS))

    # Fewer than this run measures: refused at collection, before anything is measured.
    too_small = run(pytester, *FAST, "--memgate-suite-size", "2")
    assert too_small.ret == pytest.ExitCode.USAGE_ERROR
    too_small.stderr.fnmatch_lines(["*suite_size is 2, fewer than the 3 memload scenarios*"])
    assert not Path(pytester.path / ".memgate").exists()


FIXTURE_ERRORS = """
import pytest

@pytest.fixture
def db():
    raise RuntimeError("db down")

@pytest.mark.memload(iterations=5, warmup=1)
def test_query(db):
    bytearray(4096)

@pytest.mark.memload(iterations=5, warmup=1)
def test_render():
    bytearray(4096)

@pytest.mark.memload(iterations=5, warmup=1)
@pytest.mark.skip(reason="no GPU here")
def test_gpu():
    bytearray(4096)
"""


def test_a_scenario_whose_fixture_errored_is_an_error_in_the_report_and_fails_the_merge(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    """A shard step runs with continue-on-error: the merge alone decides, so a scenario that
    was never measured must reach it as an error, not go missing."""
    pytester.makepyfile(test_suite=FIXTURE_ERRORS)
    result = run(pytester, *FAST, "-m", "memload", "--memgate-report", "s1.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.stdout.fnmatch_lines(["*test_suite.py::test_query*error*", "*1 new, 1 error, 1 skipped*"])
    report = json.loads((pytester.path / "s1.json").read_text())
    verdicts = {s["id"]: (s["verdict"], s["message"]) for s in report["scenarios"]}
    assert verdicts["test_suite.py::test_render"][0] == "new"
    verdict, message = verdicts["test_suite.py::test_query"]
    assert verdict == "error" and "never measured" in message and "db down" in message, message
    verdict, message = verdicts["test_suite.py::test_gpu"]
    assert verdict == "skipped" and "no GPU here" in message, message

    merged = pytester.path / "m.json"
    capsys.readouterr()
    assert main(["merge", str(pytester.path / "s1.json"), "-o", str(merged)]) == 1
    assert "test_suite.py::test_query: error" in capsys.readouterr().out


def test_a_merge_missing_a_shard_fails_naming_the_scenarios_no_shard_measured(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = _shard(pytester, "one", "alpha")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    merged = pytester.path / "merged.json"
    assert main(["merge", str(pytester.path / "one" / "report.json"), "-o", str(merged)]) == 1
    out = capsys.readouterr().out
    assert "2 scenario(s) of the suite are in no shard's report" in out, out
    assert "test_suite.py::test_beta: error" in out and "test_suite.py::test_gamma: error" in out
    document = json.loads(merged.read_text())
    missing = {s["id"]: s for s in document["scenarios"] if s["verdict"] == "error"}
    assert sorted(missing) == ["test_suite.py::test_beta", "test_suite.py::test_gamma"]
    assert "never measured" in missing["test_suite.py::test_beta"]["message"]
    assert main(["report", str(merged)]) == 1
