"""``memgate show``, ``diff``, ``report``, ``accept``, ``prune`` and ``rename`` on real files.

The files they read come from ``helpers.cli_files``; ``merge`` is in test_cli_merge.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.cli_files import RECORDED, MiB, record, runs, write_baseline, write_report

from pytest_memgate.baseline import BaselineEntry
from pytest_memgate.cli import COMMANDS, main
from pytest_memgate.model import RunRecord, RunStatus
from pytest_memgate.units import format_size


@pytest.fixture(autouse=True)
def _outside_any_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands read the nearest pyproject.toml: keep this repository's out of the tests."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def old_baseline(tmp_path: Path) -> Path:
    return write_baseline(
        tmp_path / "old.json",
        {
            "tests/test_app.py::test_parse": BaselineEntry("memray", runs(10 * MiB), recorded=RECORDED),
            "tests/test_app.py::test_render": BaselineEntry("memray", runs(2 * MiB), recorded=RECORDED),
        },
    )


# --- show ---------------------------------------------------------------------------------


def test_show_baseline_prints_one_row_per_scenario(old_baseline: Path, capsys) -> None:
    assert main(["show", str(old_baseline)]) == 0
    out = capsys.readouterr().out
    assert f"baseline {old_baseline}: 2 scenario(s)" in out
    header = next(line for line in out.splitlines() if line.startswith("scenario"))
    for column in ("backend", "heap peak", "heap growth", "RSS peak", "RSS growth", "runs", "recorded"):
        assert column in header
    row = next(line for line in out.splitlines() if line.startswith("tests/test_app.py::test_parse"))
    assert "memray" in row
    assert format_size(10 * MiB + 1000) in row  # median of the three peaks
    assert "+11 B/call" in row
    assert "2025-11-25T16:27:00+00:00 2c4c677f00db" in row


def test_show_baseline_json_is_the_normalized_data(old_baseline: Path, capsys) -> None:
    assert main(["show", "--json", str(old_baseline)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "baseline"
    assert [s["id"] for s in data["scenarios"]] == [
        "tests/test_app.py::test_parse",
        "tests/test_app.py::test_render",
    ]
    parse = data["scenarios"][0]
    assert parse["backend"] == "memray"
    assert parse["verdict"] is None
    assert parse["heap_peak_bytes"] == 10 * MiB + 1000
    assert parse["heap_growth_bytes_per_call"] == 11.0
    assert parse["rss_peak_bytes"] == 80 * MiB + 4096
    assert parse["runs"] == 3
    assert parse["recorded"]["commit"] == RECORDED["commit"]


def test_show_report_summarizes_its_run_records(tmp_path: Path, capsys) -> None:
    report = write_report(
        tmp_path / "report.json",
        {
            "tests/test_app.py::test_parse": ("regression", [record(20 * MiB)] * 3),
            "tests/test_app.py::test_crash": ("error", [record(0, status=RunStatus.CRASHED)]),
        },
    )
    assert main(["show", str(report)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"report {report}: 2 scenario(s)")
    assert "verdict" in lines[1]
    parse = next(line for line in lines if line.startswith("tests/test_app.py::test_parse"))
    assert "regression" in parse
    assert format_size(20 * MiB) in parse
    assert "+64 B/call" in parse  # the slope of the floor series, as the plugin computes it
    crash = next(line for line in lines if line.startswith("tests/test_app.py::test_crash"))
    assert "error" in crash
    assert "0/1 ok" in crash

    assert main(["show", "--json", str(report)]) == 0
    data = {s["id"]: s for s in json.loads(capsys.readouterr().out)["scenarios"]}
    assert data["tests/test_app.py::test_parse"]["heap_growth_bytes_per_call"] == pytest.approx(64.0)
    assert data["tests/test_app.py::test_crash"]["heap_peak_bytes"] is None


# --- diff ---------------------------------------------------------------------------------


def test_diff_doubled_heap_peak_is_a_regression(tmp_path: Path, capsys) -> None:
    """Six runs a side: a jump to a level the old runs never showed is proven only when
    that many runs rule out a second level both sides might share (``stats.odd_share_p``:
    2.4e-4 for 6 against 6)."""
    old_baseline = write_baseline(
        tmp_path / "old.json",
        {
            "tests/test_app.py::test_parse": BaselineEntry("memray", runs(10 * MiB, n=6), recorded=RECORDED),
            "tests/test_app.py::test_render": BaselineEntry("memray", runs(2 * MiB), recorded=RECORDED),
        },
    )
    new = write_baseline(
        tmp_path / "new.json",
        {
            "tests/test_app.py::test_parse": BaselineEntry("memray", runs(20 * MiB, n=6)),
            "tests/test_app.py::test_render": BaselineEntry("memray", runs(2 * MiB)),
        },
    )
    assert main(["diff", str(old_baseline), str(new)]) == 1
    out = capsys.readouterr().out
    assert "tests/test_app.py::test_parse: regression" in out
    assert "heap peak grew from" in out
    assert table_row(out, "tests/test_app.py::test_render")[0] == "pass"
    assert "tests/test_app.py::test_render: pass" not in out  # the prose is for what did not pass
    assert "over 2 common scenario(s) x 4 metrics = 0.0013 per test" in out  # Bonferroni
    assert "RSS peak grew" not in out  # only the findings that explain the outcome are spelled out


def table_row(out: str, nodeid: str) -> list[str]:
    """The cells of the compare table's row for ``nodeid`` after the id (the verdict first)."""
    line = next(line for line in out.splitlines() if nodeid in line.split())
    cells = re.split(r"\s{2,}", line.strip())
    return cells[2:] if cells[0] == "FAIL" else cells[1:]


def table_ids(out: str) -> list[str]:
    """The ids of the compare table's rows, in their order."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("scenario"))
    end = next(i for i in range(start, len(lines)) if not lines[i].strip() or lines[i].startswith("marks:"))
    return [line.split()[1 if line.startswith("FAIL") else 0] for line in lines[start + 2 : end]]


def test_diff_table_shows_each_metric_from_old_to_new_with_its_change_and_mark(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_baseline = write_baseline(
        tmp_path / "old.json",
        {
            "tests/test_app.py::test_parse": BaselineEntry("memray", runs(10 * MiB, n=6), recorded=RECORDED),
            "tests/test_app.py::test_render": BaselineEntry("memray", runs(2 * MiB), recorded=RECORDED),
        },
    )
    new = write_baseline(
        tmp_path / "new.json",
        {
            "tests/test_app.py::test_parse": BaselineEntry("memray", runs(20 * MiB, n=6)),
            "tests/test_app.py::test_render": BaselineEntry("memray", runs(1 * MiB)),
        },
    )
    assert main(["diff", str(old_baseline), str(new)]) == 1
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "scenario" in line.split())
    assert re.split(r"\s{2,}", header.strip()) == [
        "scenario", "verdict", "heap peak", "vs base", "growth/call", "vs base", "RSS peak", "vs base"
    ]  # fmt: skip
    parse = next(line for line in out.splitlines() if "tests/test_app.py::test_parse" in line.split())
    assert parse.startswith("FAIL  ")  # the failing row is marked
    cells = table_row(out, "tests/test_app.py::test_parse")
    assert cells[:4] == ["regression", "10.0 -> 20.0 MiB", "+99.9% !", "+12 -> +12 B"]
    assert table_row(out, "tests/test_app.py::test_render")[:4] == [
        "improved", "2.00 -> 1.00 MiB", "-49.9% v", "+11 -> +11 B"
    ]  # fmt: skip
    assert "marks: ! regression (proven)" in out
    assert "heap peak grew from 10.0 MiB to 20.0 MiB" in out  # the prose stays for the failure

    assert table_ids(out) == ["tests/test_app.py::test_parse", "tests/test_app.py::test_render"]

    both = [str(old_baseline), str(new)]
    assert main(["diff", "--columns", "rss-growth,heap-peak", *both]) == 1
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "scenario" in line.split())
    assert re.split(r"\s{2,}", header.strip()) == [
        "scenario", "verdict", "RSS growth/call", "vs base", "heap peak", "vs base"
    ]  # fmt: skip
    # by the change of the first column's metric, the biggest increase first
    assert main(["diff", "--sort", "change", "--columns", "heap-peak", *reversed(both)]) == 0
    assert table_ids(capsys.readouterr().out) == [
        "tests/test_app.py::test_render",
        "tests/test_app.py::test_parse",
    ]
    assert main(["diff", "--sort", "verdict", *reversed(both)]) == 0
    assert table_ids(capsys.readouterr().out) == [
        "tests/test_app.py::test_render",
        "tests/test_app.py::test_parse",
    ]
    assert main(["diff", "--columns", "all", *both]) == 1
    assert "RSS growth/call" in capsys.readouterr().out


def test_diff_names_the_known_columns_when_one_is_not(
    old_baseline: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diff", "--columns", "heap-pek", str(old_baseline), str(old_baseline)]) == 2
    assert "unknown column(s) heap-pek; choose from heap-peak, heap-growth, rss-peak, rss-growth" in (
        capsys.readouterr().err
    )


def test_diff_identical_files_pass(old_baseline: Path, capsys) -> None:
    assert main(["diff", str(old_baseline), str(old_baseline)]) == 0
    out = capsys.readouterr().out
    assert table_row(out, "tests/test_app.py::test_parse")[0] == "pass"
    assert table_row(out, "tests/test_app.py::test_render")[0] == "pass"
    assert "regression" not in out


def test_diff_halved_peak_is_an_improvement(old_baseline: Path, tmp_path: Path, capsys) -> None:
    new = write_baseline(
        tmp_path / "new.json", {"tests/test_app.py::test_parse": BaselineEntry("memray", runs(5 * MiB))}
    )
    assert main(["diff", str(old_baseline), str(new)]) == 0
    out = capsys.readouterr().out
    assert "tests/test_app.py::test_parse: improved" in out
    assert "heap peak fell from" in out
    # the evidence of the fall, not "p = 1" of a rise
    assert "for a fall (an improvement needs p < 0.0025 and more than 3% and 256 KiB)" in out
    assert "p = 1 " not in out and "regression needs" not in out


def test_diff_lists_added_and_removed_scenarios(old_baseline: Path, tmp_path: Path, capsys) -> None:
    new = write_baseline(
        tmp_path / "new.json",
        {
            "tests/test_app.py::test_parse": BaselineEntry("memray", runs(10 * MiB)),
            "tests/test_app.py::test_export": BaselineEntry("memray", runs(1 * MiB)),
        },
    )
    assert main(["diff", str(old_baseline), str(new)]) == 0
    out = capsys.readouterr().out
    assert "tests/test_app.py::test_render: removed (only in OLD)" in out
    assert "tests/test_app.py::test_export: added (only in NEW)" in out
    assert table_row(out, "tests/test_app.py::test_parse")[0] == "pass"
    assert table_row(out, "tests/test_app.py::test_render") == ["removed", *["-"] * 6]
    assert out.splitlines()[-1] == "1 pass, 1 removed, 1 added"


def test_diff_baseline_against_report(old_baseline: Path, tmp_path: Path, capsys) -> None:
    report = write_report(
        tmp_path / "report.json",
        {"tests/test_app.py::test_parse": ("regression", [record(20 * MiB), record(20 * MiB + 4096)] * 4)},
    )
    # 8 runs on a level 3 baseline runs never showed rule out a second level (1.6e-3 < 2.5e-3)
    assert main(["diff", str(old_baseline), str(report)]) == 1
    out = capsys.readouterr().out
    assert "NEW report" in out
    assert "tests/test_app.py::test_parse: regression" in out
    assert "heap peak grew from" in out
    assert "over 8 runs against 3 baseline runs" in out


def test_diff_does_not_compare_across_backends(old_baseline: Path, tmp_path: Path, capsys) -> None:
    new = write_baseline(
        tmp_path / "new.json",
        {"tests/test_app.py::test_parse": BaselineEntry("tracemalloc", runs(20 * MiB))},
    )
    assert main(["diff", str(old_baseline), str(new)]) == 0
    out = capsys.readouterr().out
    assert "tests/test_app.py::test_parse: not compared (OLD was measured with memray, NEW with" in out


def test_diff_unclear_evidence_is_inconclusive_not_pass(tmp_path: Path, capsys) -> None:
    def noisy(peaks: list[int]) -> BaselineEntry:
        return BaselineEntry("memray", tuple(replace(r, peak_heap_bytes=p) for r, p in zip(runs(0), peaks)))

    old = write_baseline(tmp_path / "old.json", {"t::noisy": noisy([8 * MiB, 10 * MiB, 12 * MiB])})
    new = write_baseline(tmp_path / "new.json", {"t::noisy": noisy([9 * MiB, 11 * MiB, 13 * MiB])})
    assert main(["diff", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "t::noisy: inconclusive" in out
    assert "heap peak grew from" in out


def test_alpha_option_is_checked(old_baseline: Path, capsys) -> None:
    assert main(["diff", "--alpha", "0.7", str(old_baseline), str(old_baseline)]) == 2
    assert "between 0 and 0.5" in capsys.readouterr().err


# --- errors -------------------------------------------------------------------------------


def test_corrupt_json_names_the_file(tmp_path: Path, old_baseline: Path, capsys) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"scenarios": {', encoding="utf-8")
    assert main(["diff", str(old_baseline), str(broken)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert len(err.splitlines()) == 1
    assert str(broken) in err
    assert "not valid JSON" in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        ('{"hello": "world"}', "not a memgate baseline or report"),
        ('{"schema_version": 99, "scenarios": {}}', "schema_version 99"),
        ('{"schema_version": 1, "scenarios": {"t::x": {"runs": []}}}', "malformed"),
        ('{"report_version": 1, "scenarios": [{"id": "t::x"}]}', "malformed"),
        ('{"report_version": 7, "scenarios": []}', "upgrade pytest-memgate"),
    ],
)
def test_unusable_files_exit_2_with_the_path(
    tmp_path: Path, capsys, content: str | None, expected: str
) -> None:
    path = tmp_path / "input.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["show", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(path) in err
    assert expected in err


def test_every_command_has_help(capsys) -> None:
    assert set(COMMANDS) == {"show", "diff", "report", "accept", "prune", "rename", "merge", "comment"}
    for argv in (["--help"], *([name, "--help"] for name in COMMANDS)):
        assert main(argv) == 0, argv
        out = capsys.readouterr().out
        assert out.startswith(f"usage: memgate {argv[0] if len(argv) > 1 else ''}".rstrip()), argv


def test_missing_command_is_a_usage_error(capsys) -> None:
    assert main([]) == 2
    assert "usage: memgate" in capsys.readouterr().err


# --- the installed command ----------------------------------------------------------------


def _console_script() -> str:
    beside = Path(sys.executable).with_name("memgate")
    found = str(beside) if beside.exists() else shutil.which("memgate")
    if found is None:
        pytest.skip("the memgate console script is not installed (pip install -e .)")
    return found


def test_installed_console_script(tmp_path: Path) -> None:
    script = _console_script()
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "show" in done.stdout and "diff" in done.stdout
    missing = tmp_path / "missing.json"
    done = subprocess.run(
        [script, "show", str(missing)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2  # main's return value is the process's exit code
    assert str(missing) in done.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_installed_console_script_help_of_each_command(command: str) -> None:
    """Each command's help through the real entry point (argparse %-formats help strings)."""
    done = subprocess.run(
        [_console_script(), command, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: memgate {command}")


def test_cli_does_not_import_pytest() -> None:
    code = (
        "import sys, pytest_memgate.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest', 'pluggy') "
        "or m in ('pytest_memgate.plugin', 'pytest_memgate.session')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


# --- report, accept, prune, rename -------------------------------------------------------


def test_report_renders_messages_and_fails_on_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_report(tmp_path / "r.json", {"t::a": ("regression", [record(10 * MiB)] * 3)})
    document = json.loads(path.read_text())
    document["scenarios"][0]["message"] = "heap peak grew from 5 MiB to 10 MiB"
    path.write_text(json.dumps(document))
    assert main(["report", str(path)]) == 1
    out = capsys.readouterr().out
    assert "t::a: regression" in out
    assert "heap peak grew from 5 MiB to 10 MiB" in out


def test_accept_writes_report_figures_with_reason(tmp_path: Path) -> None:
    from pytest_memgate.baseline import load_baseline

    base = write_baseline(tmp_path / "b.json", {"t::a": BaselineEntry("memray", runs(5 * MiB))})
    report = write_report(tmp_path / "r.json", {"t::a": ("regression", [record(10 * MiB)] * 3)})
    assert main(["accept", str(base), str(report), "t::*", "--reason", "bigger page size"]) == 0
    entry = load_baseline(base).entries["t::a"]
    assert entry.runs[0].peak_heap_bytes == 10 * MiB
    assert entry.recorded["accepted"]["reason"] == "bigger page size"
    assert entry.recorded["accepted"]["previous_peak_bytes"] == 5 * MiB + 1000


def test_accept_names_what_the_report_has(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "b.json"
    report = write_report(tmp_path / "r.json", {"t::a": ("pass", [record(MiB)] * 3)})
    assert main(["accept", str(base), str(report), "t::zzz", "--reason", "x"]) == 2
    assert "no scenario in" in capsys.readouterr().err
    assert not base.exists()


def test_prune_by_report_and_by_glob(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_memgate.baseline import load_baseline

    entries = {name: BaselineEntry("memray", runs(MiB)) for name in ("t::a", "t::b", "old::c")}
    base = write_baseline(tmp_path / "b.json", entries)
    report = write_report(tmp_path / "r.json", {"t::a": ("pass", [record(MiB)] * 3)})
    assert main(["prune", str(base), "--keep-report", str(report), "--dry-run"]) == 0
    assert "would remove old::c" in capsys.readouterr().out
    assert set(load_baseline(base).entries) == set(entries)
    assert main(["prune", str(base), "old::*"]) == 0
    assert set(load_baseline(base).entries) == {"t::a", "t::b"}
    assert main(["prune", str(base)]) == 2


def test_rename_carries_the_entry_over(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_memgate.baseline import load_baseline

    base = write_baseline(tmp_path / "b.json", {"t::old": BaselineEntry("memray", runs(3 * MiB))})
    assert main(["rename", str(base), "t::old", "t::new"]) == 0
    loaded = load_baseline(base).entries
    assert list(loaded) == ["t::new"]
    assert loaded["t::new"].runs[0].peak_heap_bytes == 3 * MiB
    assert main(["rename", str(base), "t::old", "t::x"]) == 2
    assert "has no scenario 't::old'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["B", "--dry-run", "x*"],
        ["B", "x*", "--dry-run"],
        ["--dry-run", "B", "x*"],
    ],
)
def test_prune_options_go_anywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    from pytest_memgate.baseline import load_baseline

    entries = {name: BaselineEntry("memray", runs(MiB)) for name in ("t::a", "x::b", "x::c")}
    base = write_baseline(tmp_path / "b.json", entries)
    assert main(["prune", *(str(base) if a == "B" else a for a in argv)]) == 0
    assert capsys.readouterr().out.splitlines() == ["would remove x::b", "would remove x::c"]
    assert set(load_baseline(base).entries) == set(entries)  # a dry run changes nothing


def test_accept_options_go_anywhere(tmp_path: Path) -> None:
    base = write_baseline(tmp_path / "b.json", {"t::a": BaselineEntry("memray", runs(5 * MiB))})
    report = write_report(tmp_path / "r.json", {"t::a": ("regression", [record(10 * MiB)] * 3)})
    assert main(["accept", "--reason", "bigger pages", str(base), str(report), "t::a"]) == 0
    assert main(["accept", str(base), "--reason", "bigger pages", str(report), "t::*"]) == 0


# --- diff: what is not proven is still said ------------------------------------------------


def test_diff_lists_growth_not_yet_proven_beside_a_peak_regression(tmp_path: Path, capsys) -> None:
    """A proven peak regression does not hide a +325 KiB/call growth that is not proven yet."""
    old = write_baseline(
        tmp_path / "old.json", {"t::cache": BaselineEntry("memray", runs(10 * MiB, n=6, growth=0.0))}
    )
    noisy = tuple(
        replace(r, heap_growth=kib * 1024.0, heap_growth_se=100 * 1024.0)
        for r, kib in zip(runs(30 * MiB, n=6), (40, 600, 150, 700, 90, 500))
    )
    new = write_baseline(tmp_path / "new.json", {"t::cache": BaselineEntry("memray", noisy)})
    assert main(["diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "t::cache: regression\n  heap peak grew from" in out
    assert (
        "\n  also past its tolerance, not yet proven:\n  heap growth per call went from +2 B to +325 KiB"
        in out
    )


def test_diff_says_when_runs_are_too_few_to_compare(tmp_path: Path, capsys) -> None:
    """One run on each side allows no test: every metric is named with both figures."""
    old = write_baseline(
        tmp_path / "old.json", {"t::cache": BaselineEntry("memray", runs(10 * MiB, n=1, growth=0.0))}
    )
    new = write_report(
        tmp_path / "new.json", {"t::cache": ("regression", [record(10 * MiB, step=339 * 1024)])}
    )
    assert main(["diff", str(old), str(new)]) == 0  # nothing was proven
    out = capsys.readouterr().out
    assert "t::cache: not compared (not enough runs: OLD has 1 successful run, NEW 1;" in out
    assert "not enough runs to compare heap growth: +0 B/call in OLD, +339 KiB/call in NEW." in out
    assert "not enough runs to compare heap peak: 10.0 MiB in OLD, 10.0 MiB in NEW." in out
    assert "inf" not in out  # no interval without data
    assert out.splitlines()[-1] == "1 not compared"


# --- report: sites of what did not pass -------------------------------------------------------


def test_report_shows_allocation_sites_of_failing_scenarios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_memgate.cli import load_document, report_lines
    from pytest_memgate.model import AllocSite

    sites = tuple(AllocSite(f"quote{i}", "shop/cache.py", 50 + i, (9 - i) * MiB, 1000 + i) for i in range(7))
    failing = replace(record(20 * MiB), peak_sites=sites, retained_sites=sites[:1])
    path = write_report(
        tmp_path / "r.json",
        {"t::leak": ("regression", [failing] * 2), "t::fine": ("pass", [replace(failing, iterations=50)])},
    )
    document = json.loads(path.read_text())
    document["scenarios"][0]["message"] = "heap growth per call went from +0 B to +184 KiB per call"
    path.write_text(json.dumps(document))
    assert main(["report", str(path)]) == 1
    out = capsys.readouterr().out
    lines = report_lines(load_document(path))
    assert out.splitlines() == lines  # the renderer returns lines; the command prints them
    start = lines.index("t::leak: regression")
    assert lines[start + 1] == "  heap growth per call went from +0 B to +184 KiB per call"
    peak = lines.index("  Largest allocations alive at the heap peak (run 1):")
    assert lines[peak + 1 : peak + 6] == [
        f"    {9 - i}.00 MiB in {1000 + i} allocations: quote{i} at shop/cache.py:{50 + i}" for i in range(5)
    ]
    assert lines[peak + 6] == ""  # the top 5 only
    retained = lines.index("  Memory still allocated after the 50 measured calls (run 1):")
    assert (
        lines[retained + 1] == "    9.00 MiB = 184 KiB/call in 1000 allocations: quote0 at shop/cache.py:50"
    )
    assert "t::fine" not in out.split("figures are medians")[1]  # a pass without notes is the table only


def test_report_names_a_run_stopped_at_the_hard_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_memgate.model import AllocSite

    stopped = RunRecord(
        RunStatus.HARD_CAP,
        "memray",
        iterations=50,
        error="exceeded hard cap",
        peak_sites=(AllocSite("grow", "app.py", 3, 200 * MiB, 9), AllocSite("once", "app.py", 9, MiB, 1)),
    )
    path = write_report(tmp_path / "r.json", {"t::cap": ("error", [stopped])})
    assert main(["report", str(path)]) == 1
    out = capsys.readouterr().out
    assert (
        "  Largest allocations alive when run 1 was stopped:\n    200 MiB in 9 allocations: grow at app.py:3"
        "\n    1.00 MiB in 1 allocation: once at app.py:9\n" in out
    )


# --- parametrized ids are ids, not glob patterns -------------------------------------------


def test_accept_takes_an_exact_parametrized_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_memgate.baseline import load_baseline

    base = write_baseline(tmp_path / "b.json", {"t::x[n=1000]": BaselineEntry("memray", runs(5 * MiB))})
    report = write_report(tmp_path / "r.json", {"t::x[n=1000]": ("regression", [record(10 * MiB)] * 3)})
    assert main(["accept", str(base), str(report), "t::x[n=1000]", "--reason", "bigger pages"]) == 0
    assert load_baseline(base).entries["t::x[n=1000]"].runs[0].peak_heap_bytes == 10 * MiB


def test_prune_takes_exact_parametrized_ids_and_literal_brackets_in_globs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ("t::x[1000]", "t::x[2000]", "t::x1", "t::y[a]")
    base = write_baseline(tmp_path / "b.json", {i: BaselineEntry("memray", runs(MiB)) for i in ids})
    assert main(["prune", str(base), "t::x[1000]", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == ["would remove t::x[1000]"]
    assert main(["prune", str(base), "t::x[*]", "--dry-run"]) == 0  # not t::x1
    assert capsys.readouterr().out.splitlines() == ["would remove t::x[1000]", "would remove t::x[2000]"]
    assert main(["prune", str(base), "t::*", "--dry-run"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4


def test_rename_moves_a_whole_parametrized_family(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_memgate.baseline import load_baseline

    ids = ("t::test_x[1]", "t::test_x[2]", "t::test_xy[1]", "t::other")
    base = write_baseline(tmp_path / "b.json", {i: BaselineEntry("memray", runs(MiB)) for i in ids})
    assert main(["rename", str(base), "t::test_x", "t::test_y"]) == 0
    assert set(load_baseline(base).entries) == {"t::test_y[1]", "t::test_y[2]", "t::test_xy[1]", "t::other"}
    out = capsys.readouterr().out
    assert "renamed 2 scenarios (the parametrized family t::test_x[...])" in out
    assert "t::test_x[1] -> t::test_y[1]" in out
    # one member alone, by its exact id
    assert main(["rename", str(base), "t::test_y[1]", "t::test_z[1]"]) == 0
    assert set(load_baseline(base).entries) == {"t::test_z[1]", "t::test_y[2]", "t::test_xy[1]", "t::other"}
    # a family whose new name is taken is refused, naming what is in the way
    write_baseline(base, {i: BaselineEntry("memray", runs(MiB)) for i in ("t::a[1]", "t::b[1]")})
    assert main(["rename", str(base), "t::a", "t::b"]) == 2
    assert "already has 't::b[1]'" in capsys.readouterr().err
