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
