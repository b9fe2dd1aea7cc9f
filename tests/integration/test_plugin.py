"""End to end: real scenarios, real memray, real child processes, through pytest itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.pytester_runs import LEAK_LINE, record_baseline, run, write_scenario

pytestmark = pytest.mark.slow


@pytest.fixture
def recorded(pytester: pytest.Pytester) -> Path:
    return record_baseline(pytester)


def test_without_flag_memload_tests_run_once_as_plain_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        CALLS = []

        @pytest.mark.memload(iterations=50)
        def test_a():
            CALLS.append(1)

        def test_called_once():
            assert len(CALLS) == 1
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=2)
    assert "= memgate =" not in result.stdout.str()
    assert not (pytester.path / ".memgate").exists()


def test_update_writes_a_reviewable_baseline(pytester: pytest.Pytester) -> None:
    recorded = record_baseline(pytester)  # a real recording of this project, shared
    document = json.loads(recorded.read_text())
    entry = document["scenarios"]["test_scenario.py::test_handler"]
    assert entry["backend"] == "memray"
    assert len(entry["runs"]) == 6  # baseline_runs: a baseline is never cut short
    # json.dumps of 6000 records: a couple of MiB at the peak, nothing retained per call.
    assert 500_000 < entry["peak_bytes"] < 20_000_000
    assert abs(entry["growth_bytes_per_call"]) < 64
    assert entry["recorded"]["memgate_version"]
    assert recorded.read_text() == json.dumps(document, indent=2, sort_keys=True) + "\n"


def test_planted_leak_fails_against_its_baseline_on_screen_and_in_the_report(
    pytester: pytest.Pytester, recorded: Path
) -> None:
    before = recorded.read_text()
    result = run(pytester, "--memgate", "--memgate-report", "out/report.json", plant="leak")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*REGRESSION*",
            "*heap growth per call went from * to +2.* KiB per call*"
            "t-test (pooled spread, never below the current runs')*p *",
            "*Memory still allocated after the 20 measured calls*",
            f"*test_scenario.py:{LEAK_LINE}*",
        ]
    )
    assert "regression (growth)" in out
    assert recorded.read_text() == before  # a plain run never writes
    # the report has the documented fields
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    assert report["memgate_version"]
    (scenario,) = report["scenarios"]
    assert scenario["id"] == "test_scenario.py::test_handler"
    assert scenario["verdict"] == "regression"
    assert scenario["reasons"] == ["growth"]
    assert scenario["growth_bytes_per_call"] > 1500
    assert scenario["runs"] >= 1
    assert scenario["baseline"]["runs"] == 6
    assert isinstance(scenario["peak_bytes"], int)
    assert "rss_growth_bytes_per_call" in scenario
    assert "heap growth" in scenario["message"]
    record = scenario["run_records"][0]
    assert len(record["heap_floor_bytes"]) == 21
    assert record["retained_sites"][0]["lineno"] == LEAK_LINE


def test_doubled_peak_fails_and_a_line_added_above_the_test_leaves_its_sites_matched(
    pytester: pytest.Pytester, recorded: Path
) -> None:
    """The baseline's sites are matched by file and function: a blank line above the test
    moves every line in it, and its json.dumps line is still the baseline's, shown as moved."""
    source = pytester.path / "test_scenario.py"
    text = source.read_text()
    source.write_text(text.replace("@pytest.mark.memload", "\n@pytest.mark.memload", 1))
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "text = json.dumps" in row)
    result = run(pytester, "--memgate", plant="double")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*heap peak grew from * to *", "*regression (peak)*"])
    result.stdout.fnmatch_lines(
        [
            "*Largest allocations alive at the heap peak (run 1):",
            f"*test_handler at test_scenario.py:{line + 1} (baseline *, moved from line {line})",
        ]
    )


def test_unchanged_scenario_passes_three_times_in_a_row(pytester: pytest.Pytester, recorded: Path) -> None:
    """Sessions on an unchanged scenario pass one after another (the false-alarm rate itself
    is simulated in ``tests/unit/test_verdict.py``)."""
    for attempt in range(3):
        result = run(pytester, "--memgate")
        assert result.ret == pytest.ExitCode.OK, f"attempt {attempt}:\n{result.stdout.str()}"
        result.stdout.fnmatch_lines(["*test_scenario.py::test_handler*pass*"])


def test_update_refuses_to_write_a_regression(pytester: pytest.Pytester, recorded: Path) -> None:
    before = recorded.read_text()
    result = run(pytester, "--memgate", "--memgate-update", plant="leak")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*baseline NOT updated for test_scenario.py::test_handler*"])
    assert recorded.read_text() == before


def test_crash_and_sigkill_are_errors_and_the_session_goes_on(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os, signal
        import pytest

        @pytest.mark.memload(iterations=5, warmup=0)
        def test_segfault():
            os.kill(os.getpid(), signal.SIGSEGV)

        @pytest.mark.memload(iterations=5, warmup=0)
        def test_oom_killed():
            os.kill(os.getpid(), signal.SIGKILL)

        @pytest.mark.memload(iterations=5, warmup=0)
        def test_raises():
            raise KeyError("missing-order")

        @pytest.mark.memload(iterations=5, warmup=1)
        def test_fine():
            bytearray(1000)
        """
    )
    result = run(pytester, "--memgate")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=3, passed=1)
    result.stdout.fnmatch_lines_random(
        [
            "*run 1 crashed: crashed with signal SIGSEGV*",
            "*run 1 killed: killed by SIGKILL*OOM killer*",
            "*run 1 raised: KeyError: 'missing-order'*",
            "*test_fine*new*",
        ]
    )


def test_timeout_kills_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import time
        import pytest

        @pytest.mark.memload(iterations=5, warmup=0, timeout=1)
        def test_hangs():
            time.sleep(60)
        """
    )
    result = run(pytester, "--memgate")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*timed out after 1 s and was killed*"])


def test_new_scenario_passes_unless_strict(pytester: pytest.Pytester) -> None:
    write_scenario(pytester, size=500)
    result = run(pytester, "--memgate")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*test_handler*new*no baseline yet*--memgate-update*"])
    strict = run(pytester, "--memgate", "--memgate-strict")
    assert strict.ret == pytest.ExitCode.TESTS_FAILED


def test_corrupt_baseline_is_a_clear_error_and_an_update_moves_it_aside(pytester: pytest.Pytester) -> None:
    write_scenario(pytester, size=100)
    baseline = pytester.path / ".memgate" / "baseline.json"
    baseline.parent.mkdir()
    broken = '{"schema_version": 1, "scenarios": {'
    baseline.write_text(broken)
    result = run(pytester, "--memgate")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*baseline*baseline.json is not valid JSON (line 1*restore it from git, or run pytest "
            "--memgate --memgate-update to move it aside*"
        ]
    )
    assert baseline.read_text() == broken
    # The advice works: the broken file is kept under another name and a baseline recorded.
    result = run(pytester, "--memgate", "--memgate-update")
    assert result.ret == 0, result.stdout.str()
    (aside,) = baseline.parent.glob("baseline.json.corrupt-*")
    assert aside.read_text() == broken
    result.stdout.fnmatch_lines(
        [f"baseline could not be read (*not valid JSON*); moved aside to .memgate/{aside.name}*"]
    )
    assert "test_scenario.py::test_handler" in json.loads(baseline.read_text())["scenarios"]


def test_bad_marker_argument_names_test_and_argument(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.memload(max_peak="lots")
        def test_x():
            pass
        """
    )
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*test_bad_marker_argument_names_test_and_argument.py::test_x*max_peak='lots'*"]
    )


def test_budget_fails_without_a_baseline(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.memload(iterations=5, warmup=1, max_peak="1 MiB")
        def test_big():
            block = bytearray(8 * 1024 * 1024)
            return len(block)
        """
    )
    result = run(pytester, "--memgate")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*heap peak 8.* MiB*exceeds the budget max_peak=1.00 MiB*"])


def test_options_from_pyproject(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        """
        [tool.memgate]
        enabled = true
        baseline = "memory/base.json"
        runs = 2
        max_runs = 2
        """
    )
    write_scenario(pytester, size=200)
    result = run(pytester, "--memgate-update")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    document = json.loads((pytester.path / "memory" / "base.json").read_text())
    assert len(document["scenarios"]["test_scenario.py::test_handler"]["runs"]) == 2
    assert "fewer than baseline_runs" not in result.stdout.str()
    # The command line wins over pyproject; with room for 8 runs, a 2-run baseline is small.
    wider = run(pytester, "--memgate-max-runs", "8")
    assert wider.ret == pytest.ExitCode.OK, wider.stdout.str()
    wider.stdout.fnmatch_lines(
        ["*test_handler: note: the baseline holds 2 runs*fewer than baseline_runs = 6*"]
    )


def test_unknown_pyproject_key_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        """
        [tool.memgate]
        baselin = "x.json"
        """
    )
    write_scenario(pytester, size=10)
    result = run(pytester, "--memgate")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown key(s) baselin in [[]tool.memgate[]]*known keys*"])


def test_tracemalloc_backend_catches_a_python_leak(pytester: pytest.Pytester) -> None:
    write_scenario(pytester, size=300)
    assert run(pytester, "--memgate-update", "--memgate-backend", "tracemalloc").ret == 0
    # one run: a scenario that is not compared is only measured, and tracemalloc is slow
    result = run(pytester, "--memgate", "--memgate-backend=tracemalloc", "--memgate-runs", "1", plant="leak")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*backend: tracemalloc*", "*regression (growth)*"])


def test_backend_mismatch_is_not_compared(pytester: pytest.Pytester, recorded: Path) -> None:
    # one run: a scenario that is not compared is only measured, and tracemalloc is slow
    result = run(pytester, "--memgate", "--memgate-backend=tracemalloc", "--memgate-runs", "1", plant="leak")
    out = result.stdout.str()
    assert "baseline was measured with memray, this run uses tracemalloc" in out
    assert result.ret == pytest.ExitCode.OK


def test_fast_mode_is_never_compared_with_a_traced_baseline(
    pytester: pytest.Pytester, recorded: Path
) -> None:
    fast = "--memgate-trace-python-allocators=false"
    result = run(pytester, "--memgate", fast, plant="leak")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*baseline was measured with trace_python_allocators=True*not compared*"])
    # Recorded and compared in the same mode, it still sees a leak of 2 KiB blocks (malloc'd).
    assert run(pytester, "--memgate-update", fast).ret == 0
    caught = run(pytester, "--memgate", fast, plant="leak")
    assert caught.ret == pytest.ExitCode.TESTS_FAILED
    caught.stdout.fnmatch_lines(["*regression (*growth)*"])  # arenas may move the peak too
