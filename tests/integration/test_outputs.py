"""A planted regression, seen where people look: HTML, step summary, annotations, JUnit."""

from __future__ import annotations

import pytest
from _support import run

pytestmark = pytest.mark.slow

SCENARIO = """
import os
import pytest

KEPT = []

@pytest.mark.memload(iterations=10, warmup=2)
def test_cache():
    if os.environ.get("PLANT") == "leak":
        KEPT.append(bytearray(64 * 1024))  # PLANTED
    return [bytearray(512) for _ in range(100)]
"""
PLANTED_LINE = next(i for i, line in enumerate(SCENARIO.splitlines(), 0) if "PLANTED" in line)


def test_a_planted_leak_reaches_every_output(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_out=SCENARIO)
    assert run(pytester, "--memgate", "--memgate-update").ret == 0
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = run(pytester, "--memgate", "--memgate-html", "r.html", "--junitxml", "junit.xml", plant="leak")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    html = (pytester.path / "r.html").read_text()
    assert f"test_out.py:{PLANTED_LINE}" in html and "<svg" in html
    assert str(pytester.path) not in html  # no absolute paths of the machine
    assert "REGRESSION" in summary.read_text().upper()
    result.stdout.fnmatch_lines(
        [
            "::error file=test_out.py,line=*::*",
            f"::warning file=test_out.py,line={PLANTED_LINE}*",
        ]
    )
    assert 'name="memgate_verdict" value="regression"' in (pytester.path / "junit.xml").read_text()


def test_no_annotations_outside_github_actions(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    pytester.makepyfile(test_out=SCENARIO)
    assert run(pytester, "--memgate", "--memgate-update").ret == 0
    result = run(pytester, "--memgate", plant="leak")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "::error" not in result.stdout.str() and "::warning" not in result.stdout.str()
