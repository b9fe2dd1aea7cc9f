"""Every file problem is one clean line on stderr and exit 2: never a traceback, never exit 1
(which means "regression"). Each command reads through ``load_document``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.cli_files import MiB, record, runs, write_baseline, write_report

from pytest_memgate.baseline import BaselineEntry
from pytest_memgate.cli import main


@pytest.fixture(autouse=True)
def _outside_any_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def assert_clean_error(capsys: pytest.CaptureFixture[str], code: int, *expected: str) -> str:
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.out == ""
    err = captured.err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("memgate: ")
    for text in expected:
        assert text in err
    return err


Edit = Callable[[dict[str, Any]], None]


def _set(key: str, value: Any) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        document["scenarios"][0][key] = value

    return edit


def _drop(key: str) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        del document["scenarios"][0][key]

    return edit


def _replace_scenario(value: Any) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        document["scenarios"][0] = value

    return edit


def _duplicate(document: dict[str, Any]) -> None:
    document["scenarios"].append(dict(document["scenarios"][0]))


def _environment(document: dict[str, Any]) -> None:
    document["environment"] = ["python", "3.11"]


def _huge_peak(document: dict[str, Any]) -> None:
    document["scenarios"][0]["run_records"][0]["peak_heap_bytes"] = 1e400


ODD_REPORTS = {
    "scenario without run_records": (_drop("run_records"), "run_records"),
    "scenario without an id": (_drop("id"), "id"),
    "scenario that is a number": (_replace_scenario(3), "'#1' is malformed"),
    "scenario that is text": (_replace_scenario("t::a"), "not an object"),
    "scenario that is null": (_replace_scenario(None), "not an object"),
    "run_records not a list": (_set("run_records", {"0": {}}), "run_records"),
    "run record not an object": (_set("run_records", [7]), "'t::a' is malformed"),
    "notes not a list": (_set("notes", "look"), "notes"),
    "notes not text": (_set("notes", [{"a": 1}]), "notes"),
    "message not text": (_set("message", ["x"]), "message"),
    "verdict not text": (_set("verdict", 1), "verdict"),
    "spec not an object": (_set("spec", "iterations=50"), "spec"),
    "scenario twice": (_duplicate, "appears twice"),
    "environment not an object": (_environment, "environment is a list, not an object"),
    "number out of range": (_huge_peak, ""),  # refused as JSON or as a field: either is clean
}


def odd_report(tmp_path: Path, edit: Edit) -> Path:
    path = write_report(tmp_path / "report.json", {"t::a": ("regression", [record(10 * MiB)] * 2)})
    document = json.loads(path.read_text(encoding="utf-8"))
    edit(document)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def commands(report: Path, baseline: Path) -> dict[str, list[str]]:
    return {
        "show": ["show", str(report)],
        "show --json": ["show", "--json", str(report)],
        "report": ["report", str(report)],
        "diff OLD": ["diff", str(report), str(baseline)],
        "diff NEW": ["diff", str(baseline), str(report)],
        "accept": ["accept", str(baseline), str(report), "t::*", "--reason", "bigger"],
        "prune --keep-report": ["prune", str(baseline), "--keep-report", str(report)],
    }


@pytest.mark.parametrize("case", list(ODD_REPORTS))
@pytest.mark.parametrize("command", list(commands(Path(), Path())))
def test_odd_reports_are_clean_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, command: str
) -> None:
    edit, expected = ODD_REPORTS[case]
    report = odd_report(tmp_path, edit)
    baseline = write_baseline(tmp_path / "b.json", {"t::a": BaselineEntry("memray", runs(5 * MiB))})
    before = baseline.read_text(encoding="utf-8")
    code = main(commands(report, baseline)[command])
    assert_clean_error(capsys, code, str(report), expected, "--memgate-report")
    assert baseline.read_text(encoding="utf-8") == before  # nothing written


ODD_BASELINES = {
    "entry that is a number": ('{"schema_version": 1, "scenarios": {"t::a": 3}}', "'t::a'"),
    "entry that is null": ('{"schema_version": 1, "scenarios": {"t::a": null}}', "'t::a'"),
    "runs not a list": (
        '{"schema_version": 1, "scenarios": {"t::a": {"backend": "memray", "runs": 1}}}',
        "t::a",
    ),
    "number out of range": (
        '{"schema_version": 1, "scenarios": {"t::a": {"backend": "memray", "runs": [{"peak_heap_bytes": '
        '1e400, "peak_rss_bytes": 0, "heap_growth": 0, "rss_growth": 0}]}}}',
        "",
    ),
    "NaN": (
        '{"schema_version": 1, "scenarios": {"t::a": {"backend": "memray", "runs": [{"peak_heap_bytes": 1, '
        '"peak_rss_bytes": 0, "heap_growth": NaN, "rss_growth": 0}]}}}',
        "NaN",
    ),
    "scenarios a list, no report_version": ('{"schema_version": 1, "scenarios": [1]}', ""),
    "not UTF-8": ("\udcff", "UTF-8"),
}


@pytest.mark.parametrize("case", list(ODD_BASELINES))
@pytest.mark.parametrize("command", ["show", "diff", "prune", "rename", "accept"])
def test_odd_baselines_are_clean_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, command: str
) -> None:
    text, expected = ODD_BASELINES[case]
    baseline = tmp_path / "b.json"
    baseline.write_bytes(text.encode("utf-8", "surrogateescape"))
    good = write_baseline(tmp_path / "good.json", {"t::a": BaselineEntry("memray", runs(5 * MiB))})
    report = write_report(tmp_path / "r.json", {"t::a": ("regression", [record(10 * MiB)] * 2)})
    argv = {
        "show": ["show", str(baseline)],
        "diff": ["diff", str(good), str(baseline)],
        "prune": ["prune", str(baseline), "t::*"],
        "rename": ["rename", str(baseline), "t::a", "t::b"],
        "accept": ["accept", str(baseline), str(report), "t::a", "--reason", "x"],
    }[command]
    assert_clean_error(capsys, main(argv), str(baseline), expected)
    assert baseline.read_bytes() == text.encode("utf-8", "surrogateescape")  # never overwritten


def test_prune_and_rename_need_an_existing_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.json"
    assert_clean_error(capsys, main(["prune", str(missing), "t::*"]), str(missing), "does not exist")
    assert_clean_error(capsys, main(["rename", str(missing), "a", "b"]), str(missing), "does not exist")
    assert not missing.exists()


@pytest.mark.parametrize("command", ["show", "report", "accept-report", "accept-baseline", "prune"])
def test_a_directory_is_not_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    good = write_baseline(tmp_path / "b.json", {"t::a": BaselineEntry("memray", runs(5 * MiB))})
    report = write_report(tmp_path / "r.json", {"t::a": ("regression", [record(10 * MiB)] * 2)})
    argv = {
        "show": ["show", str(folder)],
        "report": ["report", str(folder)],
        "accept-report": ["accept", str(good), str(folder), "t::a", "--reason", "x"],
        "accept-baseline": ["accept", str(folder), str(report), "t::a", "--reason", "x"],
        "prune": ["prune", str(folder), "t::a"],
    }[command]
    assert_clean_error(capsys, main(argv), str(folder))


def test_accept_needs_a_report_and_a_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_baseline(tmp_path / "b.json", {"t::a": BaselineEntry("memray", runs(5 * MiB))})
    report = write_report(tmp_path / "r.json", {"t::a": ("regression", [record(10 * MiB)] * 2)})
    code = main(["accept", str(good), str(good), "t::a", "--reason", "x"])
    assert_clean_error(capsys, code, str(good), "not a --memgate-report file")
    code = main(["accept", str(report), str(report), "t::a", "--reason", "x"])
    assert_clean_error(capsys, code, str(report), "baseline")
    code = main(["report", str(good)])
    assert_clean_error(capsys, code, str(good), "is a baseline")


def test_a_baseline_that_cannot_be_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A write that fails (here: a directory that is a file) is exit 2, not a traceback."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be\n", encoding="utf-8")
    report = write_report(tmp_path / "r.json", {"t::a": ("regression", [record(10 * MiB)] * 2)})
    code = main(["accept", str(blocker / "baseline.json"), str(report), "t::a", "--reason", "x"])
    assert_clean_error(capsys, code, str(blocker))


def test_a_scenario_with_no_successful_run_cannot_be_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_memgate.model import RunStatus

    report = write_report(tmp_path / "r.json", {"t::a": ("error", [record(0, status=RunStatus.CRASHED)])})
    code = main(["accept", str(tmp_path / "b.json"), str(report), "t::a", "--reason", "x"])
    assert_clean_error(capsys, code, "no successful run")
    assert not (tmp_path / "b.json").exists()
