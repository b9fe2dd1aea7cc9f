"""Every output fails the scenarios the terminal's FAIL column fails.

The rule is ``failing.scenario_failure``; the report carries its answer as ``fails`` (and
why, ``failure``), and the Markdown, the HTML page, GitHub's annotations, the pull-request
comment, ``memgate report`` and ``memgate merge`` read it. Each case is a real session (runs
drawn from a seeded model) where the verdict alone says otherwise: an inconclusive verdict
under ``inconclusive = "fail"``, a new scenario under ``--memgate-strict``, an accepted
regression; a plain regression and an inconclusive verdict that passes are the controls.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.cli_files import record as cli_record
from helpers.cli_files import write_report
from helpers.sessions import MiB, body, record, record_baseline, runner, session

from pytest_memgate.cli import main
from pytest_memgate.marker import ScenarioSpec
from pytest_memgate.model import RunRecord
from pytest_memgate.reports.comment import comment_body, verdicts_digest
from pytest_memgate.reports.document import fails
from pytest_memgate.reports.github import annotations
from pytest_memgate.reports.html import render_html
from pytest_memgate.reports.json import build_report
from pytest_memgate.reports.markdown import render_markdown
from pytest_memgate.reports.terminal import summary_lines

NODEID = "t.py::test_a"
OTHER = "t.py::test_other"  # a passing scenario in another shard


def noisy(rng: np.random.Generator) -> RunRecord:
    """Peaks 7% above the baseline's on average, with a spread that eight runs cannot settle."""
    return record(rng, peak=8.6 * MiB * float(rng.lognormal(0.0, 0.2)))


def bigger(rng: np.random.Generator) -> RunRecord:
    return record(rng, peak=16 * MiB)


@dataclass(frozen=True)
class Case:
    make: Callable[[np.random.Generator], RunRecord]
    verdict: str
    failure: str | None  # what the gate says: a ``failing.Failure`` value, None for a pass
    options: dict[str, Any] = field(default_factory=dict)
    baseline: bool = True


CASES = {
    "inconclusive under fail": Case(noisy, "inconclusive", "verdict", {"inconclusive": "fail"}),
    "inconclusive under pass": Case(noisy, "inconclusive", None),
    "new under strict": Case(record, "new", "strict_new", {"strict": True}, baseline=False),
    "accepted regression": Case(bigger, "regression", None, {"accept": (NODEID,), "reason": "bigger pages"}),
    "regression": Case(bigger, "regression", "verdict"),
}


@dataclass(frozen=True)
class Run:
    case: Case
    terminal_fails: bool  # the summary table's FAIL column
    document: dict[str, Any]  # the public report, read back from JSON

    @property
    def scenario(self) -> dict[str, Any]:
        found: dict[str, Any] = self.document["scenarios"][0]
        return found


@pytest.fixture(params=list(CASES), ids=list(CASES))
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Run:
    case = CASES[request.param]
    if case.baseline:
        record_baseline(tmp_path, NODEID)
    gate = session(tmp_path, runner(case.make), **case.options)
    result = gate.measure(NODEID, ScenarioSpec(), body)
    assert result.outcome.value == case.verdict
    failure = gate.failure(result)
    assert (failure.value if failure else None) == case.failure  # the rule itself
    report = gate.report()
    row = next(line for line in summary_lines(report) if NODEID in line)
    document = json.loads(json.dumps(build_report(report)))
    return Run(case, row.startswith("FAIL "), document)


def test_the_report_carries_the_terminals_answer(run: Run) -> None:
    assert run.terminal_fails is (run.case.failure is not None)
    assert run.scenario["fails"] is run.terminal_fails is fails(run.scenario)
    assert run.scenario["failure"] == run.case.failure


def test_the_markdown_lists_the_failing_scenario_and_says_why(run: Run) -> None:
    text = render_markdown(run.document)
    failures = text.partition("### Failures")[2]
    assert (NODEID in failures) is run.terminal_fails
    assert ("--memgate-strict" in failures) is (run.case.failure == "strict_new")
    unclear = run.case.failure == "verdict" and run.case.verdict == "inconclusive"
    assert ('inconclusive = "fail"' in failures) is unclear


def test_the_html_marks_and_filters_the_failing_row(run: Run) -> None:
    page = render_html(run.document)
    row = next(line for line in page.split("<tr ")[1:] if f'data-id="{NODEID}"' in line)
    classes = f"v-{run.case.verdict}" + (" fails" if run.terminal_fails else "")
    assert row.startswith(f'class="{classes}"')
    assert f'<section class="scenario {classes}"' in page
    assert ('<option value="failing">' in page) is run.terminal_fails


def test_github_annotates_only_the_failing_scenario(run: Run) -> None:
    commands = annotations(run.document, test_locations={NODEID: ("t.py", 3)})
    errors = [c for c in commands if c.startswith("::error ")]
    assert len(errors) == run.terminal_fails
    if run.case.failure == "strict_new":
        assert "--memgate-strict" in errors[0]


def test_the_pull_request_comment_lists_the_failing_scenario(run: Run) -> None:
    body_text = comment_body(run.document)
    assert (NODEID in body_text.partition("### Failures")[2]) is run.terminal_fails
    # The digest tells a flag the verdict alone would not give from the verdict's own.
    flipped = json.loads(json.dumps(run.document))
    flipped["scenarios"][0].pop("fails")
    flipped["scenarios"][0].pop("failure")
    departs = run.terminal_fails != (run.case.verdict in ("regression", "error"))
    assert (verdicts_digest(flipped) != verdicts_digest(run.document)) is departs


def test_memgate_report_exits_as_the_session_failed(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(run.document))
    expected = int(run.terminal_fails)
    assert main(["report", str(path)]) == expected
    assert main(["report", str(path), "--format", "md", "-o", str(tmp_path / "r.md")]) == expected


def test_a_merge_of_shards_exits_by_their_fails_flags(
    run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The case's scenario, as the plugin wrote it, in one shard; a pass in the other."""
    shards = []
    for name, scenarios in (("one", [run.scenario]), ("two", None)):
        path = write_report(tmp_path / f"{name}.json", {OTHER: ("pass", [cli_record(10 * MiB)] * 2)})
        document = json.loads(path.read_text())
        document.update(
            report_version=run.document["report_version"],
            alpha=0.01,
            alpha_per_test=0.001,
            suite_size=2,
            suite_ids=[NODEID, OTHER],
            provenance={"commit": "2c4c677f", "dirty": False},
            environment=run.document["environment"],
        )
        if scenarios is not None:
            document["scenarios"] = scenarios
        path.write_text(json.dumps(document))
        shards.append(str(path))
    merged = tmp_path / "merged.json"
    assert main(["merge", *shards, "-o", str(merged)]) == int(run.terminal_fails)
    out = capsys.readouterr().out
    assert (f"{NODEID}: {run.case.verdict}" in out) is run.terminal_fails
    assert main(["report", str(merged)]) == int(run.terminal_fails)
    by_id = {s["id"]: s for s in json.loads(merged.read_text())["scenarios"]}
    assert by_id[NODEID]["fails"] is run.terminal_fails and by_id[OTHER].get("fails") is None


def test_a_report_without_the_flag_is_read_by_its_verdict(run: Run, tmp_path: Path) -> None:
    """A version-1 report (written before ``fails``) fails its regressions and errors."""
    old = json.loads(json.dumps(run.document))
    old["report_version"] = 1
    for key in ("fails", "failure"):
        del old["scenarios"][0][key]
    by_verdict = run.case.verdict in ("regression", "error")
    assert fails(old["scenarios"][0]) is by_verdict
    assert (NODEID in render_markdown(old).partition("### Failures")[2]) is by_verdict
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    assert main(["report", str(path)]) == int(by_verdict)
