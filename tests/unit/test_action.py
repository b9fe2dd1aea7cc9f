"""The GitHub Action (action.yml): its comment step's own script, run with bash against a
stand-in for the `gh` CLI that records each call, creates one comment, edits it when the
verdicts change and leaves it alone when they do not; its last step fails the job unless
report-only. The comment's text is ``memgate comment``'s, tested in test_cli_comment.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers.report_document import EVIL, scenario

ROOT = Path(__file__).resolve().parents[2]
FAKE_GH = """#!/usr/bin/env bash
# records the call; answers the comment listing and the comment's body from files
echo "$*" >> "$GH_LOG"
case "$*" in
  *"--paginate"*) cat "$GH_IDS" 2>/dev/null ;;
  *"-X PATCH"*|*"-X POST"*)
    for a in "$@"; do case "$a" in body=@*) cp "${a#body=@}" "$GH_SENT" ;; esac; done
    echo https://example.invalid/c ;;
  *"--jq .body"*) cat "$GH_BODY" ;;
esac
"""


def _action() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed: action.yml is not parsed")
    data: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text())
    return data


def _step(name: str) -> dict[str, Any]:
    step: dict[str, Any] = next(s for s in _action()["runs"]["steps"] if s.get("name") == name)
    return step


class PullRequest:
    """The comment step's script in a temporary runner: environment, `gh` and files."""

    def __init__(self, tmp: Path) -> None:
        if shutil.which("bash") is None:
            pytest.skip("bash is not installed")
        self.tmp = tmp
        (tmp / "bin").mkdir()
        gh = tmp / "bin" / "gh"
        gh.write_text(FAKE_GH)
        gh.chmod(0o755)
        (tmp / "out").mkdir()
        self.log, self.sent = tmp / "gh.log", tmp / "sent.md"
        self.comments = ""  # the ids the listing returns
        self.body = ""  # the existing comment's body

    def run(
        self, document: dict[str, Any], *, mode: str = "changed", report_only: str = "false"
    ) -> list[str]:
        report = self.tmp / "report.json"
        report.write_text(json.dumps(document))
        (self.tmp / "ids").write_text(self.comments)
        (self.tmp / "body.md").write_text(self.body)
        self.log.write_text("")
        self.sent.unlink(missing_ok=True)
        env = {
            **os.environ,
            "PATH": f"{self.tmp / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "GH_LOG": str(self.log),
            "GH_IDS": str(self.tmp / "ids"),
            "GH_BODY": str(self.tmp / "body.md"),
            "GH_SENT": str(self.sent),
            "GH_TOKEN": "x",
            "GITHUB_REPOSITORY": "o/r",
            "MODE": mode,
            "REPORT_ONLY": report_only,
            "REPORT": str(report),
            "PR": "7",
            "RUN_URL": "https://github.com/o/r/actions/runs/1",
            "OUT": str(self.tmp / "out"),
        }
        script = _step("Comment on the pull request")["run"]
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            env=env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return [line for line in self.log.read_text().splitlines() if "-X" in line]


def test_the_first_run_creates_the_comment(document: dict[str, Any], tmp_path: Path) -> None:
    pr = PullRequest(tmp_path)
    [call] = pr.run(document)
    assert call.startswith("api -X POST repos/o/r/issues/7/comments -F body=@")
    sent = pr.sent.read_text()
    assert sent.startswith("<!-- memgate-comment -->") and "## memgate: 1 error, 2 pass, 3 regression" in sent


def test_a_later_push_edits_that_comment_only_when_the_verdicts_change(
    document: dict[str, Any], tmp_path: Path
) -> None:
    pr = PullRequest(tmp_path)
    pr.run(document)
    pr.comments, pr.body = "42\n43\n", pr.sent.read_text()  # GitHub holds it (and a stray copy)

    assert pr.run(document) == []  # same verdicts: no call that writes

    fixed = json.loads(json.dumps(document))
    leak = scenario(fixed, EVIL)
    leak["verdict"], leak["reasons"], leak["fails"], leak["failure"] = "pass", [], False, None
    for finding in leak["findings"]:  # a pass has no regressed finding (reports.schema checks)
        finding["regressed"] = False
    [call] = pr.run(fixed)
    assert call.startswith("api -X PATCH repos/o/r/issues/comments/42 -F body=@")
    assert "3 pass, 2 regression" in pr.sent.read_text()


def test_mode_on_edits_on_every_run_and_report_only_says_so(document: dict[str, Any], tmp_path: Path) -> None:
    pr = PullRequest(tmp_path)
    pr.comments = "42\n"
    pr.body = "<!-- memgate-comment -->\nanything"
    [call] = pr.run(document, mode="on", report_only="true")
    assert call.startswith("api -X PATCH repos/o/r/issues/comments/42")
    assert "Report only: the memory gate does not fail this pull request." in pr.sent.read_text()


# GitHub runs a composite action's bash steps as `bash --noprofile --norc -eo pipefail {0}`.
@pytest.mark.parametrize(
    ("status", "report_only", "code"),
    [("0", "false", 0), ("1", "false", 1), ("1", "true", 0), ("", "false", 1)],
)
def test_the_last_step_fails_the_job_unless_report_only(status: str, report_only: str, code: int) -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    script = _step("Verdict")["run"]
    env = {**os.environ, "STATUS": status, "REPORT_ONLY": report_only}
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == code, result.stdout + result.stderr


def test_the_gate_step_writes_the_reports_the_upload_and_the_comment_read() -> None:
    gate = _step("Memory gate")["run"]
    assert '--memgate-report "$OUT/memgate-report.json"' in gate
    assert '--memgate-html "$OUT/memgate-report.html"' in gate  # flame graphs go beside it
    upload = _step("Upload the reports and flame graphs")
    assert upload["if"] == "always()" and upload["with"]["path"] == "${{ runner.temp }}/memgate/"
    inputs = _action()["inputs"]
    assert {"python-version", "pytest-args", "install", "report-only", "comment", "github-token"} <= set(
        inputs
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("", []),
        ("-m memload tests/api", ["-m", "memload", "tests/api"]),
        ("-k\napi or export\n\ntests/\n", ["-k", "api or export", "tests/"]),
    ],
)
def test_the_gate_step_passes_the_teams_arguments_and_keeps_pytests_status(
    given: str, expected: list[str], tmp_path: Path
) -> None:
    """Against a stand-in `python` that records its arguments and fails like a gate that
    found a regression: the step itself succeeds and hands the status on."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    (tmp_path / "bin").mkdir()
    python = tmp_path / "bin" / "python"
    python.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$ARGS_LOG"\nexit 1\n')
    python.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "ARGS_LOG": str(tmp_path / "args"),
        "PYTEST_ARGS": given,
        "OUT": str(tmp_path / "out"),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
    }
    script = _step("Memory gate")["run"]
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "out"
    assert (tmp_path / "args").read_text().splitlines() == [
        "-m", "pytest", "--memgate", *expected,
        "--memgate-report", f"{out}/memgate-report.json", "--memgate-html", f"{out}/memgate-report.html",
    ]  # fmt: skip
    assert (tmp_path / "output").read_text().splitlines() == [
        "exit-code=1",
        f"report={out}/memgate-report.json",
    ]
