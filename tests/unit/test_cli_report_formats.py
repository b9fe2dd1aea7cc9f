"""``memgate report REPORT --format text|md|html`` renders a saved report for people."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.sessions import body, record, record_baseline, runner, session

from pytest_memgate.cli import main
from pytest_memgate.marker import ScenarioSpec
from pytest_memgate.reports.json import build_report

MiB = 1024**2


@pytest.fixture
def report_path(tmp_path: Path) -> Path:
    record_baseline(tmp_path)
    gate = session(tmp_path, runner(lambda rng: record(rng, peak=16 * MiB)))
    gate.measure("t.py::test_a", ScenarioSpec(), body)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(build_report(gate.report())))
    return path


def test_markdown_and_html_formats(
    report_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(report_path), "--format", "md"]) == 1  # it holds a regression
    markdown = capsys.readouterr().out
    assert markdown.startswith("## memgate") and "t.py::test_a" in markdown and "regression" in markdown
    page = tmp_path / "r.html"
    assert main(["report", str(report_path), "--format", "html", "-o", str(page)]) == 1
    html = page.read_text()
    assert html.lstrip().lower().startswith("<!doctype html") and "t.py::test_a" in html and "<svg" in html
    assert main(["report", str(report_path)]) == 1
    assert "t.py::test_a" in capsys.readouterr().out


def test_an_unwritable_output_is_a_clean_error(report_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(report_path), "--format", "html", "-o", "/proc/nope/r.html"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("memgate: cannot write /proc/nope/r.html")


def test_html_from_a_saved_report_links_its_flame_graphs(
    report_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report names each flame graph relative to the rootdir it was written from; the
    page links it relative to where the page is written, from any current directory."""
    import re

    out = tmp_path / "out"
    (out / "r-flamegraphs").mkdir(parents=True)
    flame = out / "r-flamegraphs" / "t.py__test_a.html"
    flame.write_text("<html>flame</html>")
    document = json.loads(report_path.read_text())
    document["scenarios"][0]["flamegraph"] = "out/r-flamegraphs/t.py__test_a.html"
    saved = out / "r.json"
    saved.write_text(json.dumps(document))

    def link(html: str) -> str | None:
        found = re.search(r'<a class="flame" href="([^"]+)">flame graph</a>', html)
        return found.group(1) if found else None

    monkeypatch.chdir(tmp_path)  # the rootdir the report was written from
    assert main(["report", str(saved), "--format", "html", "-o", str(out / "page.html")]) == 1
    assert link((out / "page.html").read_text()) == "r-flamegraphs/t.py__test_a.html"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # found above the report, whatever the current directory
    assert main(["report", str(saved), "--format", "html", "-o", str(out / "again.html")]) == 1
    assert link((out / "again.html").read_text()) == "r-flamegraphs/t.py__test_a.html"
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["report", "out/r.json", "--format", "html"]) == 1  # to stdout: relative to here
    assert link(capsys.readouterr().out) == "out/r-flamegraphs/t.py__test_a.html"
    # a page written where the flame graph is not below it says so, and how to link it
    assert main(["report", str(saved), "--format", "html", "-o", str(elsewhere / "p.html")]) == 1
    assert link((elsewhere / "p.html").read_text()) is None
    err = capsys.readouterr().err
    assert f"flame graph of t.py::test_a not linked: {flame} is not under the page's directory" in err
    # <external>/name (the report was written outside the rootdir): found beside the report
    document["scenarios"][0]["flamegraph"] = "<external>/t.py__test_a.html"
    saved.write_text(json.dumps(document))
    assert main(["report", str(saved), "--format", "html", "-o", str(out / "ext.html")]) == 1
    assert link((out / "ext.html").read_text()) == "r-flamegraphs/t.py__test_a.html"
