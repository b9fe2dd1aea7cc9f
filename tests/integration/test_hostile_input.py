"""Hostile input at a real ``pytest --memgate`` (memray, tiny scenarios): ids that carry
terminal escapes or newlines, a report path that cannot be written, a worker payload that
cannot be read, and the hard cap printed under xdist."""

from __future__ import annotations

import json
import os
import re

import pytest
from helpers.pytester_runs import record_baseline, run

pytestmark = pytest.mark.slow

# pytest spells control characters out in ids unless this option is set; with it the raw
# characters reach the plugin, as they do from a directory name or a plugin's own ids.
RAW_IDS = """
[pytest]
disable_test_id_escaping_and_forfeit_all_rights_to_community_support = true
"""

HOSTILE_IDS = """
import pytest

@pytest.mark.memload(iterations=5, warmup=0)
@pytest.mark.parametrize("name", ["a\\x1b[31mred", "two\\nlines"])
def test_named(name):
    if name.startswith("two"):
        raise ValueError("boom")
    return [bytes(64) for _ in range(64)]
"""


def _gate_lines(output: str) -> list[str]:
    """The lines the gate printed: its progress, failure texts, summary and annotations."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"=+ memgate =+$", line))
    end = next(i for i, line in enumerate(lines) if "short test summary info" in line)
    own = [line for line in lines[:start] if line.startswith(("memgate ", "memgate:", "  "))]
    return own + lines[start:end]


def test_ids_with_escapes_and_newlines_are_spelled_out_in_everything_the_gate_prints(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini(RAW_IDS)
    pytester.makepyfile(test_ids=HOSTILE_IDS)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")  # annotations are printed to the log
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    result = run(pytester, "--memgate", "--memgate-strict")
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output
    gate = _gate_lines(output)
    assert not [line for line in gate if "\x1b" in line], gate
    # a raw newline would have started a line with the id's second half
    assert not [line for line in gate if line.startswith("lines]")], gate
    red, two = r"test_named[a\x1b[31mred]", r"test_named[two\nlines]"
    for expected in (
        f"memgate test_ids.py::{red}: run*",  # progress
        f"memgate: NEW in test_ids.py::{red}",  # failure text, as pytest shows it
        f"memgate: ERROR (raised) in test_ids.py::{two}",
        f"*test_ids.py::{red} *new *",  # the table
        f"FAIL  test_ids.py::{two} *error (raised) *",
        f"::error file=test_ids.py,line=*,title=memgate::error (raised) in test_ids.py::{two}*",
    ):
        assert any(_matches(line, expected) for line in gate), (expected, gate)


def _matches(line: str, pattern: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(line, pattern.replace("[", "[[]"))


@pytest.mark.parametrize("where", ["a directory", "under a file"])
def test_a_report_that_cannot_be_written_is_one_error_after_the_table_with_exit_3(
    pytester: pytest.Pytester, where: str
) -> None:
    baseline = record_baseline(pytester)
    before = baseline.read_bytes()
    if where == "a directory":
        (pytester.path / "reports").mkdir()
        target = "reports"
    else:
        (pytester.path / "notes.txt").write_text("a file, not a directory\n")
        target = "notes.txt/report.json"
    result = run(pytester, "--memgate", "--memgate-report", target)
    output = result.stdout.str()
    assert result.ret == 3, output  # pytest's internal-error status: not a regression (1)
    assert "Traceback" not in output + result.stderr.str()
    lines = output.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("test_scenario.py::test_handler  pass"))
    errors = [i for i, line in enumerate(lines) if line.startswith("memgate: could not write the report")]
    assert len(errors) == 1 and errors[0] > row, output
    message = lines[errors[0]]
    assert target in message and "check the path, its permissions and the free space" in message
    assert "The report was not written." in message
    assert baseline.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_a_report_in_a_read_only_directory_is_one_error_with_exit_3(pytester: pytest.Pytester) -> None:
    baseline = record_baseline(pytester)
    before = baseline.read_bytes()
    locked = pytester.path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = run(pytester, "--memgate", "--memgate-report", "locked/report.json")
    finally:
        locked.chmod(0o700)
    assert result.ret == 3, result.stdout.str()
    result.stdout.fnmatch_lines(["memgate: 1 pass", "memgate: could not write the report *locked*"])
    assert baseline.read_bytes() == before


# A conftest that spoils each scenario's payload on the worker, after the plugin wrote it:
# the controller must report that scenario as an error and go on.
SPOILED_PAYLOAD = """
import json
import pytest

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    payload = getattr(report, "memgate_result", None)
    if payload is not None and "spoiled" in item.nodeid:
        data = json.loads(payload)
        data["spec"]["iterations"] = "many"
        report.memgate_result = json.dumps(data)
    return report
"""

TWO_SCENARIOS = """
import pytest

@pytest.mark.memload(iterations=5, warmup=0)
def test_spoiled():
    return bytearray(10_000)

@pytest.mark.memload(iterations=5, warmup=0)
def test_sound():
    return bytearray(10_000)
"""


def test_an_unreadable_worker_result_is_an_error_for_that_scenario_not_a_controller_crash(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(SPOILED_PAYLOAD)
    pytester.makepyfile(test_two=TWO_SCENARIOS)
    result = run(pytester, "-n", "1", "--memgate", "--memgate-report", "r.json")
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output
    assert "Traceback" not in output + result.stderr.str() and "INTERNALERROR" not in output
    report = json.loads((pytester.path / "r.json").read_text())
    verdicts = {s["id"]: s["verdict"] for s in report["scenarios"]}
    assert verdicts == {"test_two.py::test_spoiled": "error", "test_two.py::test_sound": "new"}
    spoiled = next(s for s in report["scenarios"] if s["id"] == "test_two.py::test_spoiled")
    assert (
        "could not be read: iterations is invalid: expected a whole number >= 1, got 'many'"
        in (spoiled["message"])
    )
    result.stdout.fnmatch_lines(["*test_two.py::test_spoiled  error *"])


def test_the_hard_cap_printed_under_xdist_is_shared_by_every_workers_children(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_two=TWO_SCENARIOS)
    serial = run(pytester, "--memgate")
    parallel = run(pytester, "-n", "2", "--memgate")
    assert serial.ret == parallel.ret == pytest.ExitCode.OK, parallel.stdout.str()

    def cap(output: str) -> tuple[str, str]:
        found = re.search(r"^hard cap: (\S+ \S+) per child \((.*)\)$", output, re.MULTILINE)
        assert found is not None, output
        return found.group(1), found.group(2)

    serial_size, serial_source = cap(serial.stdout.str())
    parallel_size, parallel_source = cap(parallel.stdout.str())
    assert serial_source.endswith("shared by the run's two children")
    if "the least a measured run is given" not in parallel_source:
        assert parallel_source.endswith("shared by the two children of each of 2 xdist workers")
        assert parallel_size != serial_size


@pytest.mark.parametrize(("bad", "run_index"), [(10**15, 5), (2**63 - 1, 0)])
def test_a_baseline_with_an_impossible_peak_stops_the_session_naming_the_run(
    pytester: pytest.Pytester, bad: int, run_index: int
) -> None:
    """One run at 10**15 made a +50% peak "inconclusive" (exit 0); every run at 2**63 - 1
    made it "improved". The baseline is refused before anything is measured."""
    pytester.makepyfile(
        test_peak="""
        import pytest

        @pytest.mark.memload(iterations=5, warmup=1)
        def test_peak():
            bytearray(3 * 1024 * 1024)
        """
    )
    runs = [
        {"peak_heap_bytes": 2 * 1024**2, "peak_rss_bytes": 4 * 1024**2, "heap_growth": 0.0, "rss_growth": 0.0}
        for _ in range(6)
    ]
    for i, one in enumerate(runs):
        if i == run_index or bad == 2**63 - 1:
            one["peak_heap_bytes"] = bad
    baseline = pytester.path / ".memgate" / "baseline.json"
    baseline.parent.mkdir()
    entry = {"backend": "memray", "runs": runs}
    baseline.write_text(
        json.dumps(
            {"schema_version": 1, "memgate_version": "0.1", "scenarios": {"test_peak.py::test_peak": entry}}
        )
    )
    result = run(pytester, "--memgate")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    result.stderr.fnmatch_lines(
        [f"*test_peak.py::test_peak*runs[[]{run_index}[]].peak_heap_bytes*more than any 64-bit process*"]
    )


def test_a_scenarios_exception_cannot_forge_ci_output(pytester: pytest.Pytester) -> None:
    """Its text is shown as pytest shows an exception: each line after ``E   ``, control
    characters spelled out, so no line of the log starts a workflow command or an escape."""
    pytester.makepyfile(
        test_forge="""
        import pytest

        @pytest.mark.memload(iterations=5, warmup=0)
        def test_forge():
            raise RuntimeError("x\\n::error::FORGED \\x1b[31m")
        """
    )
    result = run(pytester, "--memgate", "--memgate-runs", "1")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    out = result.stdout.str()
    assert "\x1b[31m" not in out and "\\x1b[31m" in out
    forged = [line for line in out.splitlines() if "FORGED" in line]
    assert forged and all(line.startswith("E   ") for line in forged), forged


def test_a_baseline_write_that_failed_is_not_claimed_in_the_report_or_the_terminal(
    pytester: pytest.Pytester,
) -> None:
    """On a full disk the report listed both scenarios under baseline_written, and the
    terminal said "baseline written" before the error."""
    pytester.makepyfile(
        test_two="""
        import pytest

        @pytest.mark.memload(iterations=5, warmup=1)
        def test_one():
            bytearray(4096)

        @pytest.mark.memload(iterations=5, warmup=1)
        def test_two():
            bytearray(4096)
        """
    )
    (pytester.path / "blocker").write_text("a file where the baseline's directory should be")
    result = run(
        pytester,
        "--memgate",
        "--memgate-update",
        "--memgate-runs",
        "1",
        "--memgate-baseline-runs",
        "1",
        "--memgate-baseline",
        "blocker/baseline.json",
        "--memgate-report",
        "r.json",
    )
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR, result.stdout.str()
    result.stdout.fnmatch_lines(["*could not write the baseline*blocker/baseline.json*left as it was*"])
    assert "baseline written" not in result.stdout.str()
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["baseline_written"] == []
