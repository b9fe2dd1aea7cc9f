"""A scenario's subprocesses count against the hard cap: their memory is the run's."""

from __future__ import annotations

import json

import pytest
from helpers.pytester_runs import run

pytestmark = pytest.mark.slow


HOLDS_64_MIB = "b = bytearray(64 << 20)"  # resident: bytearray writes its zeros
# ... in a grandchild: a subprocess that runs it in a subprocess of its own
IN_A_GRANDCHILD = (
    f"import subprocess, sys; subprocess.run([sys.executable, '-c', {HOLDS_64_MIB!r}], check=True)"
)


HOG = "b = bytearray(300 << 20); import time; time.sleep(2)"
HOG_IN_A_GRANDCHILD = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {HOG!r}], check=True)"


@pytest.mark.parametrize("code", [HOG, HOG_IN_A_GRANDCHILD], ids=["child", "grandchild"])
def test_a_subprocess_past_the_hard_cap_stops_the_run(pytester: pytest.Pytester, code: str) -> None:
    pytester.makepyfile(
        test_spawns=f"""
        import subprocess, sys
        import pytest

        _spawned = []

        @pytest.mark.memload(iterations=5, warmup=0)
        def test_spawns():
            if not _spawned:  # once per measuring child
                _spawned.append(subprocess.run([sys.executable, "-c", {code!r}], check=True))
        """
    )
    result = run(pytester, "--memgate", "--memgate-hard-cap", "256 MiB")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*hard cap: exceeded hard cap at * MiB of RSS growth (cap 256 MiB)*"])


@pytest.mark.parametrize("code", [HOLDS_64_MIB, IN_A_GRANDCHILD], ids=["child", "grandchild"])
def test_a_subprocess_s_memory_is_in_the_rss_peak(pytester: pytest.Pytester, code: str) -> None:
    pytester.makepyfile(
        test_spawns=f"""
        import subprocess, sys
        import pytest

        @pytest.mark.memload(iterations=5, warmup=0)
        def test_spawns():
            subprocess.run([sys.executable, "-c", {code!r}], check=True)
        """
    )
    result = run(pytester, "--memgate", "--memgate-report", "report.json")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    (scenario,) = json.loads((pytester.path / "report.json").read_text())["scenarios"]
    assert scenario["rss_peak_bytes"] >= 64 << 20
    assert all(record["peak_rss_bytes"] >= 64 << 20 for record in scenario["run_records"])
