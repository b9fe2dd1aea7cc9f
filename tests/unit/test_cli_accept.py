"""``memgate accept`` records where its figures came from, and says how many runs they are."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers.cli_files import MiB, record, runs, write_baseline, write_report

from pytest_memgate.baseline import BaselineEntry, load_baseline
from pytest_memgate.branches import CI_VARIABLES, provenance, working_tree_dirty
from pytest_memgate.cli import main


def git(cwd: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside any CI, and run from a temporary directory: never this repository's checkout."""
    monkeypatch.chdir(tmp_path)
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean checkout on main with a committed baseline, where the command is run."""
    path = tmp_path / "repo"
    (path / ".memgate").mkdir(parents=True)
    (path / "app.py").write_text("CACHE = {}\n", encoding="utf-8")
    (path / "pyproject.toml").write_text('[project]\nname = "app"\n', encoding="utf-8")
    write_baseline(path / ".memgate" / "baseline.json", {"t::a": BaselineEntry("memray", runs(5 * MiB))})
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "start")
    monkeypatch.chdir(path)
    return path


def accept(repo: Path, runs_in_report: int = 2, *extra: str) -> int:
    report = write_report(
        repo / "memgate.json", {"t::a": ("regression", [record(10 * MiB)] * runs_in_report)}
    )
    argv = ["accept", ".memgate/baseline.json", str(report), "t::a", "--reason", "bigger pages", *extra]
    return main(argv)


def recorded(repo: Path) -> dict[str, object]:
    return load_baseline(repo / ".memgate" / "baseline.json").entries["t::a"].recorded


def test_accept_records_branch_commit_and_a_clean_tree(repo: Path, capsys) -> None:
    assert accept(repo) == 0
    stamp = recorded(repo)
    assert stamp["branch"] == "main"
    assert stamp["commit"] == git(repo, "rev-parse", "HEAD")
    assert stamp["dirty"] is False  # the untracked report and the baseline being written do not count
    out = capsys.readouterr().out
    assert f"recorded: branch main (git), commit {str(stamp['commit'])[:12]}\n" in out


def test_accept_says_the_entry_holds_few_runs(repo: Path, capsys) -> None:
    assert accept(repo, 2) == 0
    note = str(recorded(repo)["runs_note"])
    assert note.startswith("2 run(s) from a --memgate-report, fewer than baseline_runs = 6")
    assert "pytest --memgate --memgate-update" in note
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["accepted t::a into .memgate/baseline.json: bigger pages", f"  {note}"]


def test_accept_of_enough_runs_has_no_note(repo: Path, capsys) -> None:
    (repo / "pyproject.toml").write_text("[tool.memgate]\nbaseline_runs = 3\n", encoding="utf-8")
    assert accept(repo, 3) == 0
    assert "runs_note" not in recorded(repo)
    assert "fewer than" not in capsys.readouterr().out


def test_accept_marks_a_dirty_tree(repo: Path, capsys) -> None:
    (repo / "app.py").write_text("CACHE = []\n", encoding="utf-8")
    assert accept(repo) == 0
    assert recorded(repo)["dirty"] is True
    assert "working tree with uncommitted changes (recorded as dirty)" in capsys.readouterr().out


def test_an_uncommitted_baseline_is_not_a_dirty_tree(repo: Path) -> None:
    assert accept(repo) == 0  # the baseline is now modified, not committed
    assert accept(repo, 3) == 0
    assert recorded(repo)["dirty"] is False


def test_accept_takes_the_branch_from_ci(repo: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    git(repo, "checkout", "-q", "--detach")  # CI checks out a detached head
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_HEAD_REF", "feature/pages")
    assert accept(repo) == 0
    assert recorded(repo)["branch"] == "feature/pages"
    assert "branch feature/pages (GitHub Actions GITHUB_HEAD_REF)" in capsys.readouterr().out


def test_accept_outside_git(tmp_path: Path, capsys) -> None:
    (tmp_path / ".memgate").mkdir()
    assert accept(tmp_path) == 0
    stamp = recorded(tmp_path)
    assert stamp["commit"] is None and stamp["branch"] is None
    assert "dirty" not in stamp  # unknown, not clean
    assert "no commit (not a git checkout)" in capsys.readouterr().out


# --- branches: the dirty check and provenance ----------------------------------------------


def test_working_tree_dirty(repo: Path) -> None:
    assert working_tree_dirty(repo) is False
    (repo / "notes.txt").write_text("untracked\n", encoding="utf-8")
    assert working_tree_dirty(repo) is False  # untracked files do not count (git describe --dirty)
    baseline = repo / ".memgate" / "baseline.json"
    baseline.write_text(baseline.read_text() + "\n", encoding="utf-8")
    assert working_tree_dirty(repo) is True
    assert working_tree_dirty(repo, [baseline]) is False
    assert working_tree_dirty(repo / ".memgate", [baseline]) is False  # from a subdirectory too
    git(repo, "add", "notes.txt")
    assert working_tree_dirty(repo, [baseline]) is True  # staged counts
    git(repo, "commit", "-qam", "notes")
    git(repo, "mv", "app.py", "service.py")
    assert working_tree_dirty(repo) is True


def test_working_tree_dirty_outside_git(tmp_path: Path) -> None:
    assert working_tree_dirty(tmp_path) is None


def test_provenance_keeps_its_signature_and_records_dirty(repo: Path) -> None:
    stamp = provenance(repo, "9.9", "main")  # as GateSession.write_baseline calls it
    assert stamp["branch"] == "main" and stamp["memgate_version"] == "9.9"
    assert stamp["dirty"] is False
    (repo / "app.py").write_text("CACHE = None\n", encoding="utf-8")
    assert provenance(repo, "9.9", None)["dirty"] is True
    assert provenance(repo, "9.9", None, ignore=[repo / "app.py"])["dirty"] is False


def test_a_scenario_that_passed_on_its_cheap_first_look_is_not_accepted_from_a_report(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its one run is a cheap one (a peak over two traced calls, floors from counters): stored
    as the entry's full runs, every later full run would be compared with the wrong figures."""
    report = write_report(repo / "memgate.json", {"t::a": ("pass", [record(10 * MiB)])})
    document = json.loads(report.read_text())
    document["scenarios"][0]["screened"] = True
    report.write_text(json.dumps(document))
    before = (repo / ".memgate" / "baseline.json").read_text()
    assert main(["accept", ".memgate/baseline.json", str(report), "t::a", "--reason", "x"]) == 2
    assert "passed on the cheap first look" in capsys.readouterr().err
    assert (repo / ".memgate" / "baseline.json").read_text() == before
