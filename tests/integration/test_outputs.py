"""A planted regression, seen where people look: HTML with memray's flame graph, JSON,
Markdown, step summary, annotations, JUnit; and none of them holds a path of the machine."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from helpers.pytester_runs import record_baseline, run

pytestmark = pytest.mark.slow

SCENARIO = """
import os
import pytest

KEPT = []

def planted_cache_fill():
    KEPT.append(bytearray(64 * 1024))  # PLANTED

@pytest.mark.memload(iterations=10, warmup=2)
def test_cache():
    if os.environ.get("PLANT") == "leak":
        planted_cache_fill()
    return [bytearray(512) for _ in range(100)]

@pytest.mark.memload(iterations=5, warmup=1)
def test_parse():
    if os.environ.get("PLANT") == "leak":
        open(os.path.join(os.getcwd(), "missing", "input.json"))
    return [bytearray(512) for _ in range(10)]
"""
PLANTED_LINE = next(i for i, line in enumerate(SCENARIO.splitlines(), 0) if "PLANTED" in line)


def test_a_planted_leak_reaches_every_output(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_baseline(pytester, files={"test_out": SCENARIO})
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    outputs = ("--memgate-html", "out/r.html", "--memgate-report", "out/r.json", "--memgate-markdown", "r.md")
    result = run(pytester, "--memgate", *outputs, "--junitxml", "junit.xml", plant="leak")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    html = (pytester.path / "out" / "r.html").read_text()
    assert f"test_out.py:{PLANTED_LINE}" in html and "<svg" in html
    # memray's flame graph of the run that confirmed the leak, beside the page and linked from it
    document = json.loads((pytester.path / "out" / "r.json").read_text())
    cache = next(s for s in document["scenarios"] if s["id"] == "test_out.py::test_cache")
    assert cache["verdict"] == "regression"
    assert cache["flamegraph"].startswith("out/r-flamegraphs/") and cache["capture"].endswith(".bin")
    flamegraph = pytester.path / cache["flamegraph"]
    assert (pytester.path / cache["capture"]).is_file()
    text = flamegraph.read_text()
    assert len(text) > 100_000 and "planted_cache_fill" in text
    link = re.search(r'<a class="flame" href="([^"]+)">', html)
    assert link is not None and link.group(1) == cache["flamegraph"].removeprefix("out/")
    # only the regression keeps its capture; the error (a raised scenario) has none
    assert sorted(p.suffix for p in flamegraph.parent.iterdir()) == [".bin", ".html"]
    assert "flame graph(s) written" in result.stdout.str()
    # no path of this machine (the project's directory, the interpreter's) in any report file
    parse = next(s for s in document["scenarios"] if s["id"] == "test_out.py::test_parse")
    assert parse["verdict"] == "error" and 'File "test_out.py", line' in parse["run_records"][0]["error"]
    assert "missing/input.json" in parse["message"]
    for written in ("out/r.html", "out/r.json", "r.md", str(flamegraph.relative_to(pytester.path))):
        content = (pytester.path / written).read_text()
        for machine_path in {str(pytester.path), str(pytester.path.resolve()), sys.prefix, str(Path.home())}:
            assert machine_path not in content, (written, machine_path)
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
    record_baseline(pytester, files={"test_out": SCENARIO})
    result = run(pytester, "--memgate", plant="leak")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "::error" not in result.stdout.str() and "::warning" not in result.stdout.str()


def test_keep_captures_keeps_one_capture_of_every_scenario_under_xdist(pytester: pytest.Pytester) -> None:
    """Workers keep the captures; the controller renders the flame graphs from their paths."""
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    pytester.makepyfile(test_out=SCENARIO)
    outputs = ("--memgate-keep-captures", "caps", "--memgate-html", "r.html", "--memgate-report", "r.json")
    result = run(pytester, "-n", "2", "--memgate", "--memgate-runs", "1", *outputs)
    assert result.ret == 0, result.stdout.str()
    document = json.loads((pytester.path / "r.json").read_text())
    assert {s["verdict"] for s in document["scenarios"]} == {"new"}
    kept = sorted((pytester.path / "caps").iterdir())
    assert [s["capture"] for s in document["scenarios"]] == [f"caps/{p.name}" for p in kept]
    assert len(kept) == 2 and all(p.suffix == ".bin" and p.stat().st_size > 0 for p in kept)
    html = (pytester.path / "r.html").read_text()
    for scenario in document["scenarios"]:
        assert (pytester.path / scenario["flamegraph"]).stat().st_size > 100_000
        assert f'href="{scenario["flamegraph"]}"' in html
    assert "2 memray capture(s) written" in result.stdout.str()


# memray commands on a kept capture (memray's aggregated format), as docs/reports.md names them.
READ_KEPT = {
    "memray flamegraph": ("flamegraph", "-o", "peak.html"),
    "memray flamegraph --leaks": ("flamegraph", "--leaks", "-o", "leaks.html"),
    "memray table": ("table", "-o", "table.html"),
    "memray summary": ("summary",),
    "memray transform csv": ("transform", "csv", "-o", "sites.csv"),
}
REFUSE_KEPT = {"memray stats": ("stats",), "memray flamegraph --temporal": ("flamegraph", "--temporal")}


def test_the_memray_commands_the_reports_page_names_read_a_kept_capture(pytester: pytest.Pytester) -> None:
    import subprocess

    pytester.makepyfile(test_out=SCENARIO)
    result = run(
        pytester, "--memgate", "--memgate-runs", "1", "-k", "cache", "--memgate-keep-captures", "caps"
    )
    assert result.ret == 0, result.stdout.str()
    (capture,) = (pytester.path / "caps").iterdir()
    for argv in (*READ_KEPT.values(), *REFUSE_KEPT.values()):
        done = subprocess.run(
            [sys.executable, "-m", "memray", *argv, str(capture)],
            cwd=pytester.path,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert (done.returncode == 0) is (argv in READ_KEPT.values()), (argv, done.stderr[-500:])
        if argv in REFUSE_KEPT.values():
            assert "pre-aggregated capture file" in done.stderr
    page = (Path(__file__).parents[2] / "docs" / "reports.md").read_text()
    paragraph = page[page.index("`--memgate-keep-captures DIR` keeps") :].split("\n\n", 1)[0]
    paragraph = " ".join(paragraph.split())
    for command in READ_KEPT:
        assert f"`{command}`" in paragraph, command
    assert "`memray stats` and `memray flamegraph --temporal` need a full capture and refuse it" in paragraph


def test_a_new_scenario_under_strict_fails_in_the_report_and_the_markdown_too(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--memgate-strict fails a scenario with no baseline: the terminal's FAIL column, the
    report's ``fails`` and the Markdown's Failures say so alike, and ``memgate report`` exits
    1 on the saved report (its verdict, "new", would fail nothing by itself)."""
    from pytest_memgate.cli import main

    pytester.makepyfile(
        test_new="""
import pytest

@pytest.mark.memload(iterations=5, warmup=1)
def test_fresh():
    return [bytearray(512) for _ in range(10)]
"""
    )
    outputs = ("--memgate-report", "r.json", "--memgate-markdown", "r.md")
    result = run(pytester, "--memgate", "--memgate-strict", *outputs)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.stdout.fnmatch_lines(["FAIL  test_new.py::test_fresh  new*"])
    (scenario,) = json.loads((pytester.path / "r.json").read_text())["scenarios"]
    assert (scenario["verdict"], scenario["fails"], scenario["failure"]) == ("new", True, "strict_new")
    failures = (pytester.path / "r.md").read_text().partition("### Failures")[2]
    assert "` test_new.py::test_fresh `: **new**" in failures, failures
    assert "fails under --memgate-strict" in failures
    monkeypatch.chdir(pytester.path)
    assert main(["report", "r.json"]) == 1
