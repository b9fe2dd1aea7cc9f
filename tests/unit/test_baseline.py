from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_memgate.baseline import (
    BaselineEntry,
    load_baseline,
    parse_baseline,
    render_baseline,
    update_baseline,
)
from pytest_memgate.errors import BaselineError
from pytest_memgate.model import AllocSite, RunSummary


def entry(peak: int = 10_000_000, growth: float = 0.0) -> BaselineEntry:
    runs = tuple(RunSummary(peak + i, 20_000_000, growth + 0.1234567 * i, 1.5, 100.0, 40.0) for i in range(3))
    site = AllocSite("handler", "app/api.py", 12, peak, 40, (("handler", "app/api.py", 12),))
    return BaselineEntry("memray", runs, {"iterations": 50}, {"commit": "abc"}, {}, (site,), ())


def test_round_trip_and_stable_text(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    update_baseline(path, {"t::b": entry(), "t::a": entry(5_000_000)}, "0.1")
    text = path.read_text()
    loaded = load_baseline(path)
    assert set(loaded.entries) == {"t::a", "t::b"}
    assert loaded.entries["t::a"].runs[0].peak_heap_bytes == 5_000_000
    assert loaded.entries["t::b"].peak_sites[0].location == "handler at app/api.py:12"
    # Rendering what was loaded gives the same text: diffs show only real changes.
    assert render_baseline(loaded.entries, "0.1") == text
    assert text.index('"t::a"') < text.index('"t::b"')
    assert '"heap_growth": 0.123' in text  # floats rounded for readable diffs


def test_missing_file_is_an_empty_baseline(tmp_path: Path) -> None:
    assert load_baseline(tmp_path / "none.json").entries == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"scenarios": {', "is not valid JSON (line 1"),
        ("[]", "is not a memgate baseline"),
        ('{"schema_version": 99, "scenarios": {}}', "schema_version 99"),
        ('{"schema_version": 1, "scenarios": {"t": {"runs": []}}}', "entry 't' is malformed"),
    ],
)
def test_corrupt_baseline_errors_say_what_to_do(text: str, message: str) -> None:
    with pytest.raises(BaselineError) as info:
        parse_baseline(text, Path("b.json"))
    assert message in str(info.value)


def test_update_never_overwrites_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text("not json")
    with pytest.raises(BaselineError, match="left untouched"):
        update_baseline(path, {"t::a": entry()}, "0.1")
    assert path.read_text() == "not json"


def test_update_merges_and_removes(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    update_baseline(path, {"t::a": entry(), "t::b": entry()}, "0.1")
    update_baseline(path, {"t::c": entry()}, "0.1", remove=("t::a",))
    assert set(load_baseline(path).entries) == {"t::b", "t::c"}


def _python(code: str, path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(path)])


def test_a_write_killed_midway_leaves_the_old_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    update_baseline(path, {"t::a": entry()}, "0.1")
    before = path.read_text()
    # The writer is SIGKILLed after the new text is written but before it is renamed.
    code = f"""
        import os, signal, sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pytest_memgate import baseline
        from test_baseline import entry
        os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
        baseline.update_baseline(Path(sys.argv[1]), {{"t::b": entry(1)}}, "0.2")
    """
    killed = _python(code, path)
    assert killed.wait(timeout=60) == -9
    assert path.read_text() == before
    assert set(load_baseline(path).entries) == {"t::a"}


def test_two_writers_at_once_both_land(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    code = f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pytest_memgate import baseline
        from test_baseline import entry
        prefix = sys.argv[2]
        for i in range(25):
            baseline.update_baseline(Path(sys.argv[1]), {{f"{{prefix}}::{{i}}": entry(i + 1)}}, "0.1")
    """
    writers = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(path), name])
        for name in ("left", "right")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    names = set(load_baseline(path).entries)
    assert names == {f"{p}::{i}" for p in ("left", "right") for i in range(25)}
    json.loads(path.read_text())


@pytest.mark.parametrize(
    ("environ", "name", "source"),
    [
        (
            {"GITHUB_ACTIONS": "true", "GITHUB_HEAD_REF": "", "GITHUB_REF_NAME": "main"},
            "main",
            "GitHub Actions GITHUB_REF_NAME",
        ),
        (
            {"GITHUB_ACTIONS": "true", "GITHUB_HEAD_REF": "feat/x", "GITHUB_REF_NAME": "9/merge"},
            "feat/x",
            "GitHub Actions GITHUB_HEAD_REF",
        ),
        (
            {"GITLAB_CI": "true", "CI_COMMIT_BRANCH": "release/1.2"},
            "release/1.2",
            "GitLab CI CI_COMMIT_BRANCH",
        ),
        (
            {"GITLAB_CI": "true", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "fix", "CI_COMMIT_BRANCH": "main"},
            "fix",
            "GitLab CI CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
        ),
        ({"BUILDKITE": "true", "BUILDKITE_BRANCH": "main"}, "main", "Buildkite BUILDKITE_BRANCH"),
        ({"CIRCLECI": "true", "CIRCLE_BRANCH": "dev"}, "dev", "CircleCI CIRCLE_BRANCH"),
        ({"JENKINS_URL": "http://ci", "GIT_BRANCH": "origin/main"}, "main", "Jenkins GIT_BRANCH"),
        (
            {"JENKINS_URL": "http://ci", "CHANGE_BRANCH": "pr-7", "BRANCH_NAME": "PR-7"},
            "pr-7",
            "Jenkins CHANGE_BRANCH",
        ),
    ],
)
def test_branch_from_ci_variables(environ: dict[str, str], name: str, source: str, tmp_path: Path) -> None:
    from pytest_memgate.branches import current_branch

    branch = current_branch(tmp_path, environ)
    assert (branch.name, branch.source) == (name, source)


def test_branch_globs() -> None:
    from pytest_memgate.branches import matching_glob

    assert matching_glob("release/2.1", ["main", "release/*"]) == "release/*"
    assert matching_glob("main", ["main", "release/*"]) == "main"
    assert matching_glob("mainline", ["main"]) is None
    assert matching_glob(None, ["*"]) is None


def test_no_branch_outside_git_and_ci(tmp_path: Path) -> None:
    from pytest_memgate.branches import current_branch

    assert current_branch(tmp_path, {}).name is None


def test_baseline_file_is_readable_by_the_team(tmp_path: Path) -> None:
    import os
    import stat

    path = tmp_path / "b.json"
    update_baseline(path, {"t::a": entry()}, "0.1")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
