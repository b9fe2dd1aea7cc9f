"""Production realism end to end: scaling, native memory, hard cap, limit-relative budgets."""

from __future__ import annotations

import json

import pytest
from helpers.pytester_runs import record_baseline, run

pytestmark = pytest.mark.slow

SCALING = """
import os
import pytest

QUADRATIC = os.environ.get("PLANT") == "quadratic"

def pair_report(ids):
    if QUADRATIC:  # compares every pair: a table that grows with n**2
        return [[a == b for b in ids] for a in ids[: len(ids) // 8]]
    return [ids.count(a) for a in ids[:50]] and list(dict.fromkeys(ids))

@pytest.mark.memload(iterations=6, warmup=1, sizes=[300, 600, 1200], production_size=200_000,
                     max_peak="256 MiB")
def test_report(memload_size):
    pair_report([str(i) for i in range(memload_size)])
"""


def test_quadratic_scaling_is_caught_from_small_sizes(pytester: pytest.Pytester) -> None:
    record_baseline(pytester, files={"test_scaling": SCALING})
    result = run(pytester, "--memgate", "--memgate-report", "r.json", plant="quadratic")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*REGRESSION (*) in test_scaling.py::test_report[[]n=1200[]]",
            "*peak grows as n^1.* against n^0.* in the baseline*",
            "*extrapolated heap peak at production size 200,000*exceeds max_peak (256 MiB)*",
        ]
    )
    report = json.loads((pytester.path / "r.json").read_text())
    scaling = next(s["scaling"] for s in report["scenarios"] if s["scaling"])
    assert scaling["sizes"] == [300, 600, 1200]
    assert scaling["exponent"] > scaling["baseline_exponent"] + 0.5


def test_linear_scaling_passes_and_reports_the_exponent(pytester: pytest.Pytester) -> None:
    record_baseline(pytester, files={"test_scaling": SCALING})
    result = run(pytester, "--memgate", "--memgate-report", "r.json")
    assert result.ret == 0, result.stdout.str()
    report = json.loads((pytester.path / "r.json").read_text())
    scaling = next(s["scaling"] for s in report["scenarios"] if s["scaling"])
    assert 0.7 < scaling["exponent"] < 1.2
    assert scaling["production_peak_bytes"] < 256 * 1024**2
    # A clear pass may stop after one run, but a size of a family takes two: the fit's
    # points. (More when a size's growth interval is still open: its 6 calls' floors are read
    # by a sampler, and on a loaded machine they scatter more.)
    assert all(s["runs"] >= 2 for s in report["scenarios"])


def test_native_leak_outside_the_heap_tracker_is_caught_through_rss(pytester: pytest.Pytester) -> None:
    # malloc reached through dlsym (ctypes) bypasses memray's hooks: heap flat, RSS climbing.
    # Blocks past glibc's mmap threshold get fresh pages: smaller ones can first be carved
    # from free heap the child inherited from pytest, already resident, so RSS does not rise
    # until that is used up (docs/concepts.md, Limits).
    pytester.makepyfile(
        test_native="""
        import ctypes, os
        import pytest

        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        libc.malloc.argtypes = [ctypes.c_size_t]
        LEAK = os.environ.get("PLANT") == "leak"

        @pytest.mark.memload(iterations=20, warmup=3)
        def test_codec():
            frame = bytearray(200_000)
            if LEAK:
                block = libc.malloc(512 * 1024)
                ctypes.memset(block, 1, 512 * 1024)
            return len(frame)
        """
    )
    assert run(pytester, "--memgate-update").ret == 0
    result = run(pytester, "--memgate", plant="leak")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        ["*RSS growth per call went from * to +5* KiB per call*", "*Heap flat, RSS climbing*"]
    )
    assert "heap growth per call went" not in out  # the heap tracker did not see it


def test_hard_cap_stops_a_runaway_and_names_the_site(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_runaway="""
        import pytest

        @pytest.mark.memload(iterations=5, warmup=0, max_peak="16 MiB")
        def test_runaway():
            hoard = []
            while True:
                hoard.append(bytearray(4 * 1024 * 1024))

        @pytest.mark.memload(iterations=5, warmup=1)
        def test_after():
            bytearray(1000)
        """
    )
    result = run(pytester, "--memgate", "--memgate-hard-cap", "128 MiB")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*run 1 hard cap: exceeded hard cap at * MiB of RSS growth (cap 128 MiB)*",
            "*Largest allocations alive when the run was stopped:*",
            "*MiB in * allocations: test_runaway at test_runaway.py:7*",
        ]
    )


def test_budget_as_share_of_the_configured_limit(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.memgate]\nmemory_limit = "100 MiB"\n')
    pytester.makepyfile(
        test_share="""
        import pytest

        @pytest.mark.memload(iterations=5, warmup=1, max_peak="10%")
        def test_export():
            return len(bytearray(20 * 1024 * 1024))
        """
    )
    result = run(pytester, "--memgate")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*heap peak 20.0 MiB*exceeds the budget max_peak=10.0 MiB*",
            "*memory limit: 100 MiB (memory_limit in the configuration)*",
        ]
    )


def test_share_budget_without_a_limit_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_share="""
        import pytest

        @pytest.mark.memload(max_peak="10%")
        def test_export():
            pass
        """
    )
    result = run(pytester, "--memgate", "--memgate-memory-limit", "auto")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*max_peak=10% is a share of the memory limit*memory_limit*"])
