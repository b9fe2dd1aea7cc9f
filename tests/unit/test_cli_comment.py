"""``memgate comment`` and GitHub's limits: the pull-request comment is created, edited only
when the verdicts change, and cut to fit, saying so; the step summary and the annotations
stay within what GitHub shows.

The documents come from ``test_reports_html.report_document`` (a session's report with a
planted leak, a sized family that regressed, a crash and a pass).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from helpers.report_document import CRASH, EVIL, FLAT, TEST_LINES, scenario

from pytest_memgate.cli import main
from pytest_memgate.config import GateConfig
from pytest_memgate.outputs import write_outputs
from pytest_memgate.reports.comment import (
    COMMENT_LIMIT,
    MARKER,
    STEP_SUMMARY_LIMIT,
    comment_body,
    digest_in,
    verdicts_digest,
)
from pytest_memgate.reports.github import ANNOTATIONS_PER_LEVEL, annotations, step_summary


def save(document: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(document))
    return path


def comment(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, str]:
    assert main(["comment", *args]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def with_passes(document: dict[str, Any], count: int) -> dict[str, Any]:
    """The document with ``count`` more passing scenarios (copies of its flat one)."""
    doc = copy.deepcopy(document)
    flat = scenario(doc, FLAT)
    for i in range(count):
        doc["scenarios"].append({**flat, "id": f"test_many.py::test_flat_{i:05d}"})  # renderers only read
    return doc


def test_a_first_comment_is_the_report_with_a_marker_and_the_verdicts_digest(
    document: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = save(document, tmp_path / "report.json")
    body, _ = comment(capsys, str(report), "--previous-body", str(tmp_path / "no-comment-yet.md"))
    first, second = body.splitlines()[:2]
    assert first == MARKER
    assert second == f"<!-- memgate-verdicts: {verdicts_digest(document)} -->"
    assert digest_in(body) == verdicts_digest(document)
    assert "## memgate: 1 error, 2 pass, 3 regression" in body
    assert "### Failures" in body and "app/cache.py:58" in body
    assert "Truncated" not in body and len(body) <= COMMENT_LIMIT


def test_an_unchanged_verdict_posts_nothing_even_when_the_figures_moved(
    document: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = save(document, tmp_path / "report.json")
    posted, _ = comment(capsys, str(report))
    (tmp_path / "posted.md").write_text(posted)

    later = copy.deepcopy(document)  # the next push: other figures, the same verdicts
    flat = scenario(later, FLAT)
    flat["peak_bytes"] += 65536
    assert comment(capsys, str(save(later, tmp_path / "l.json")))[0] != posted  # the table moved
    out = tmp_path / "body.md"
    assert (
        main(
            [
                "comment",
                str(save(later, tmp_path / "later.json")),
                "--previous-body",
                str(tmp_path / "posted.md"),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert out.read_text() == ""  # nothing to post: the job leaves its comment alone
    assert "nothing to post" in capsys.readouterr().err


def test_a_changed_verdict_gives_a_new_body_to_edit_the_comment_with(
    document: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    posted, _ = comment(capsys, str(save(document, tmp_path / "report.json")))
    (tmp_path / "posted.md").write_text(posted)

    fixed = copy.deepcopy(document)  # the leak was fixed on the next push
    leak = scenario(fixed, EVIL)
    leak["verdict"], leak["reasons"], leak["fails"], leak["failure"] = "pass", [], False, None
    for finding in leak["findings"]:  # a pass has no regressed finding (reports.schema checks)
        finding["regressed"] = False
    body, _ = comment(
        capsys, str(save(fixed, tmp_path / "fixed.json")), "--previous-body", str(tmp_path / "posted.md")
    )
    assert body.startswith(MARKER)
    assert digest_in(body) == verdicts_digest(fixed) != digest_in(posted)
    assert "## memgate: 1 error, 3 pass, 2 regression" in body


def test_a_scenario_that_came_or_went_changes_the_digest(document: dict[str, Any]) -> None:
    fewer = copy.deepcopy(document)
    fewer["scenarios"] = [s for s in fewer["scenarios"] if s["id"] != CRASH]
    assert verdicts_digest(fewer) != verdicts_digest(document)
    reordered = copy.deepcopy(document)
    reordered["scenarios"].reverse()
    assert verdicts_digest(reordered) == verdicts_digest(document)


def test_someone_elses_comment_is_not_taken_for_ours(
    document: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.md"
    other.write_text(f"LGTM <!-- memgate-verdicts: {verdicts_digest(document)} -->")  # no marker
    body, _ = comment(capsys, str(save(document, tmp_path / "report.json")), "--previous-body", str(other))
    assert body.startswith(MARKER)


def test_report_only_and_the_link_to_the_artifacts_are_said(
    document: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "https://github.com/o/r/actions/runs/1"
    body, _ = comment(capsys, str(save(document, tmp_path / "r.json")), "--report-only", "--details-url", url)
    assert "> Report only: the memory gate does not fail this pull request." in body
    assert f"[The full report and flame graphs]({url})" in body


def test_a_large_suite_keeps_its_failures_and_drops_passing_rows_first(document: dict[str, Any]) -> None:
    big = with_passes(document, 1500)
    body = comment_body(big)  # the command's own renderer: reading 1,500 scenarios back takes long
    assert len(body) <= COMMENT_LIMIT
    assert "1502 passing scenario(s) are left out of the table to fit GitHub's limit." in body
    assert "test_many.py" not in body
    assert "### Failures" in body and "app/cache.py:58" in body and "SIGSEGV" in body
    assert digest_in(body) == verdicts_digest(big)


def test_a_body_over_the_limit_is_cut_at_a_line_and_says_so(
    document: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = save(document, tmp_path / "report.json")
    whole, _ = comment(capsys, str(report))
    limit = len(whole) // 2
    body, _ = comment(capsys, str(report), "--max-chars", str(limit))
    assert len(body) <= limit
    assert body.startswith(MARKER) and digest_in(body) == verdicts_digest(document)
    note = body.splitlines()[-1]
    assert note.startswith("**Truncated:** ") and f"GitHub's limit of {limit:,} characters" in note
    kept = body[: body.index("\n**Truncated:**")].splitlines()
    # whole lines of the full body, in its order, none cut in the middle; passing rows went first
    remaining = iter(line for line in whole.splitlines() if line)
    assert all(line in remaining for line in kept if line and "passing scenario(s) are left out" not in line)
    assert not [line for line in kept if "| pass |" in line]


@pytest.mark.parametrize("bad", ["0", "-5", "many"])
def test_a_bad_limit_is_a_usage_error(
    bad: str, document: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["comment", str(save(document, tmp_path / "r.json")), "--max-chars", bad]) == 2
    assert "is not a positive whole number of characters" in capsys.readouterr().err


def test_a_baseline_is_refused_with_the_file_to_pass(capsys: pytest.CaptureFixture[str]) -> None:
    baseline = Path(__file__).resolve().parents[2] / "examples" / ".memgate" / "baseline.json"
    assert main(["comment", str(baseline)]) == 2
    assert "`memgate comment` reads a --memgate-report file" in capsys.readouterr().err


# --- GitHub's limits for the step summary and the annotations ----------------------------


def test_the_step_summary_fits_in_what_is_left_and_says_it_was_cut(document: dict[str, Any]) -> None:
    big = with_passes(document, 200)
    whole = step_summary(big)
    limit = len(whole.encode()) // 3
    cut = step_summary(big, limit=limit)
    assert len(cut.encode()) <= limit
    assert "**Truncated:** " in cut and "GitHub's limit of 1,048,576 bytes" in cut
    assert step_summary(document) == step_summary(document, limit=10**9)


def test_annotations_stop_at_githubs_ten_per_level_and_say_how_many_more(document: dict[str, Any]) -> None:
    many = copy.deepcopy(document)
    leak = scenario(many, EVIL)
    for i in range(12):
        many["scenarios"].append({**copy.deepcopy(leak), "id": f"test_x.py::test_leak_{i}"})
    lines = annotations(many, test_locations=TEST_LINES)
    errors = [line for line in lines if line.startswith("::error ")]
    warnings = [line for line in lines if line.startswith("::warning ")]
    notices = [line for line in lines if line.startswith("::notice ")]
    assert len(errors) == len(warnings) == ANNOTATIONS_PER_LEVEL
    [notice] = notices
    failing = sum(s["verdict"] in ("regression", "error") for s in many["scenarios"])
    assert f"{failing - ANNOTATIONS_PER_LEVEL} more failing scenario(s)" in notice
    assert "more grown allocation site(s)" in notice
    assert not [
        line for line in annotations(document, test_locations=TEST_LINES) if line.startswith("::notice")
    ]


def test_the_plugin_appends_only_what_is_left_of_the_steps_summary(
    document: dict[str, Any], tmp_path: Path
) -> None:
    """Earlier output of the same step counts against GitHub's 1 MiB: the summary fills the rest."""
    summary = tmp_path / "summary.md"
    earlier = "x" * (STEP_SUMMARY_LIMIT - 2000) + "\n"
    summary.write_text(earlier)
    files, errors = write_outputs(
        GateConfig(rootdir=tmp_path), document, {"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert errors == [] and ("GitHub step summary", str(summary)) in files
    written = summary.read_bytes()
    assert len(written) <= STEP_SUMMARY_LIMIT
    assert written.startswith(earlier.encode()) and b"**Truncated:** " in written
