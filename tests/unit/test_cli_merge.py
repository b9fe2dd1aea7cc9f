"""``memgate merge``: the reports and the baselines of CI shards, combined or refused.

Shards are documents shaped like the plugin's; every refusal is exit 2 with one line that
names the file and the fix, and writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.cli_files import RECORDED, MiB, record, runs, write_baseline, write_report

from pytest_memgate.baseline import BaselineEntry, load_baseline
from pytest_memgate.cli import main

ENVIRONMENT = {
    "python": "3.11.7",
    "implementation": "CPython",
    "platform": "linux",
    "machine": "x86_64",
    "backend": "memray",
    "memray": "1.15.0",
    "allocator": "default",
    "packages": {},
}
COMMIT = "2c4c677f00dbeef1234567890abcdef012345678"


def shard(path: Path, verdicts: dict[str, str], **changes: Any) -> Path:
    """A shard's --memgate-report: its scenarios, judged in a suite of ``suite_size``."""
    write_report(path, {nodeid: (verdict, [record(10 * MiB)] * 2) for nodeid, verdict in verdicts.items()})
    document = json.loads(path.read_text())
    document.update(
        alpha=0.01,
        alpha_per_test=0.01 / (4 * 4 * 5),
        suite_size=4,
        suite_size_source="collected",
        provenance={"commit": COMMIT, "dirty": False},
        environment=ENVIRONMENT,
        baseline_written=[],
        baseline_not_written=[],
    )
    document.update(changes)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.fixture
def shards(tmp_path: Path) -> tuple[Path, Path]:
    one = shard(tmp_path / "shard-1.json", {"t.py::test_b": "pass", "t.py::test_a10": "pass"})
    two = shard(tmp_path / "shard-2.json", {"t.py::test_a9": "new", "u.py::test_c": "improved"})
    return one, two


def test_shard_reports_merge_into_one_report_that_renders(
    tmp_path: Path, shards: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    merged = tmp_path / "out" / "merged.json"
    assert main(["merge", *map(str, shards), "-o", str(merged)]) == 0
    out = capsys.readouterr().out
    assert f"merged 2 shard report(s) into {merged}: 4 scenario(s) of a suite of 4" in out
    document = json.loads(merged.read_text())
    ids = [s["id"] for s in document["scenarios"]]
    assert ids == ["t.py::test_a9", "t.py::test_a10", "t.py::test_b", "u.py::test_c"]  # natural order
    assert document["suite_size"] == 4 and document["provenance"]["commit"] == COMMIT
    assert [s["scenarios"] for s in document["shards"]] == [2, 2]
    assert main(["report", str(merged)]) == 0
    assert "report " + str(merged) + ": 4 scenario(s)" in capsys.readouterr().out
    for fmt in ("md", "html"):
        assert main(["report", str(merged), "--format", fmt, "-o", str(tmp_path / f"r.{fmt}")]) == 0
    assert "t.py::test_a9" in (tmp_path / "r.md").read_text()


def test_a_regression_in_any_shard_makes_the_merge_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = shard(tmp_path / "a.json", {"t.py::test_a": "pass"}, suite_size=3)
    two = shard(tmp_path / "b.json", {"t.py::test_b": "regression", "t.py::test_c": "error"}, suite_size=3)
    merged = tmp_path / "merged.json"
    assert main(["merge", str(one), str(two), "-o", str(merged)]) == 1
    out = capsys.readouterr().out
    assert "t.py::test_b: regression" in out and "t.py::test_c: error" in out
    assert main(["report", str(merged)]) == 1  # the merged report fails the same way


def test_scenarios_no_shard_measured_are_errors_of_the_merge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Shards name the suite's ids; one no report holds fails the merge as an error, by name."""
    suite = ["t.py::test_a", "t.py::test_b", "t.py::test_c", "t.py::test_d"]
    one = shard(tmp_path / "a.json", {"t.py::test_a": "pass"}, suite_ids=suite)
    two = shard(tmp_path / "b.json", {"t.py::test_c": "pass"}, suite_ids=suite)
    merged = tmp_path / "merged.json"
    assert main(["merge", str(one), str(two), "-o", str(merged)]) == 1
    out = capsys.readouterr().out
    assert "2 scenario(s) of the suite are in no shard's report" in out
    assert "t.py::test_b: error" in out and "t.py::test_d: error" in out
    document = json.loads(merged.read_text())
    assert [s["id"] for s in document["scenarios"]] == suite and document["suite_ids"] == suite
    assert main(["report", str(merged)]) == 1
    for fmt in ("md", "html"):
        assert main(["report", str(merged), "--format", fmt, "-o", str(tmp_path / f"r.{fmt}")]) == 1


def test_a_merge_short_of_the_suite_without_ids_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reports of an older pytest-memgate name no ids: too few scenarios still fail the merge."""
    one = shard(tmp_path / "a.json", {"t.py::test_a": "pass", "t.py::test_b": "pass"}, suite_size=3)
    merged = tmp_path / "merged.json"
    assert main(["merge", str(one), "-o", str(merged)]) == 2
    err = capsys.readouterr().err
    assert "hold 2 scenario(s) together, but the suite they were judged in has 3" in err, err
    assert not merged.exists()


OTHER_PYTHON = {**ENVIRONMENT, "python": "3.12.1"}

# (what the second shard differs in, words the one-line error must hold)
REPORT_REFUSALS = {
    "environment": ({"environment": OTHER_PYTHON}, ["another environment", "python 3.12.1 vs 3.11.7"]),
    "commit": (
        {"provenance": {"commit": "f" * 40, "dirty": False}},
        ["measured commit ffffffff", "one CI run"],
    ),
    "suite size": ({"suite_size": 9}, ["over 9 scenario(s)", "over 4", "--memgate-suite-size"]),
    "level": ({"alpha_per_test": 0.001}, ["judged at 0.001 per test", "same [tool.memgate]"]),
    "version": ({"memgate_version": "0.0.1"}, ["pytest-memgate 0.0.1", "one CI run"]),
    "no suite size": ({"suite_size": None}, ["has no suite_size", "re-run that shard"]),
    "no provenance": ({"provenance": None}, ["has no provenance", "re-run that shard"]),
    "bad suite size": ({"suite_size": "4"}, ["suite_size is '4'", "write the report again"]),
    "bad suite ids": ({"suite_ids": "t.py::test_b"}, ["suite_ids is 't.py::test_b', not a list"]),
}


@pytest.mark.parametrize("case", sorted(REPORT_REFUSALS))
def test_shards_that_do_not_belong_together_are_refused(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    changes, words = REPORT_REFUSALS[case]
    one = shard(tmp_path / "one.json", {"t.py::test_a": "pass"})
    two = shard(tmp_path / "two.json", {"t.py::test_b": "pass"}, **changes)
    merged = tmp_path / "merged.json"
    assert main(["merge", str(one), str(two), "-o", str(merged)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(two) in err, err
    assert all(word in err for word in words), err
    assert not merged.exists()


def test_a_scenario_in_two_shards_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = shard(tmp_path / "one.json", {"t.py::test_a": "pass"})
    two = shard(tmp_path / "two.json", {"t.py::test_a": "regression"})
    assert main(["merge", str(one), str(two), "-o", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert f"scenario 't.py::test_a' is in both {one} and {two}" in err and "must not overlap" in err


def test_shards_judged_over_fewer_scenarios_than_they_hold_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Shards selected by path each count only their own: the sizes may agree and still be wrong."""
    one = shard(tmp_path / "one.json", {"t.py::test_a": "pass", "t.py::test_b": "pass"}, suite_size=2)
    two = shard(tmp_path / "two.json", {"u.py::test_c": "pass", "u.py::test_d": "pass"}, suite_size=2)
    assert main(["merge", str(one), str(two), "-o", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert "hold 4 scenarios together" in err and "--memgate-suite-size 4" in err


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["{one}", "{one}", "-o", "{out}"], ["is given twice"]),
        (["{one}", "{base}", "-o", "{out}"], ["is a baseline and", "in two commands"]),
        (["{base}", "-o", "{out}"], ["is a baseline", "--baseline BASELINE"]),
        (["{one}", "--baseline", "{out}"], ["is a report", "-o MERGED.json"]),
        (["{one}"], ["needs one of -o MERGED.json", "--baseline BASELINE"]),
        (["{one}", "-o", "{out}", "--baseline", "{base}"], ["needs one of"]),
        (["{missing}", "-o", "{out}"], ["does not exist"]),
    ],
)
def test_usage_mistakes_are_one_line_and_exit_2(
    tmp_path: Path, arguments: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    paths = {
        "one": shard(tmp_path / "one.json", {"t.py::test_a": "pass"}),
        "base": write_baseline(tmp_path / "base.json", {}),
        "out": tmp_path / "out.json",
        "missing": tmp_path / "missing.json",
    }
    assert main(["merge", *(a.format(**paths) for a in arguments)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and all(word in err for word in words), err
    assert not paths["out"].exists()


def test_merge_help_names_both_forms(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["merge", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--output" in out and "--baseline" in out


# --- baselines -----------------------------------------------------------------------------

NEW_COMMIT = {**RECORDED, "commit": "9" * 40}


def entry(
    peak: int, recorded: dict[str, Any] = RECORDED, environment: dict[str, Any] = ENVIRONMENT
) -> BaselineEntry:
    return BaselineEntry("memray", runs(peak), recorded=recorded, environment=environment)


@pytest.fixture
def started(tmp_path: Path) -> dict[str, BaselineEntry]:
    """The committed baseline every shard started from: three scenarios."""
    entries = {name: entry(peak * MiB) for name, peak in (("t.py::a", 10), ("t.py::b", 20), ("u.py::c", 30))}
    write_baseline(tmp_path / "baseline.json", entries)
    return entries


def shard_baseline(path: Path, started: dict[str, BaselineEntry], **changed: BaselineEntry) -> Path:
    """What a shard's --memgate-update leaves: the baseline it started from, its own entries new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_baseline(
        path, {**started, **{k.replace("__", "::").replace("_", "."): v for k, v in changed.items()}}
    )


def test_each_shards_update_lands_in_one_baseline(
    tmp_path: Path, started: dict[str, BaselineEntry], capsys: pytest.CaptureFixture[str]
) -> None:
    a, c, d = entry(11 * MiB, NEW_COMMIT), entry(31 * MiB, NEW_COMMIT), entry(5 * MiB, NEW_COMMIT)
    one = shard_baseline(tmp_path / "1" / "baseline.json", started, t_py__a=a)
    two = shard_baseline(tmp_path / "2" / "baseline.json", started, u_py__c=c, u_py__d=d)
    out = tmp_path / "baseline.json"
    assert main(["merge", "--baseline", str(out), str(one), str(two)]) == 0
    printed = capsys.readouterr().out
    assert f"merged 2 shard baseline(s) into {out}: 3 scenario(s) changed" in printed
    assert f"updated t.py::a (from {one})" in printed and f"added u.py::d (from {two})" in printed
    merged = load_baseline(out).entries
    assert merged == {"t.py::a": a, "t.py::b": started["t.py::b"], "u.py::c": c, "u.py::d": d}
    assert not list(tmp_path.glob(".baseline.json.*.tmp"))  # written atomically, nothing left over


def test_the_same_change_in_two_shards_is_no_conflict(
    tmp_path: Path, started: dict[str, BaselineEntry]
) -> None:
    a = entry(11 * MiB, NEW_COMMIT)
    one = shard_baseline(tmp_path / "1.json", started, t_py__a=a)
    two = shard_baseline(tmp_path / "2.json", started, t_py__a=a)
    assert main(["merge", "--baseline", str(tmp_path / "baseline.json"), str(one), str(two)]) == 0
    assert load_baseline(tmp_path / "baseline.json").entries["t.py::a"] == a


BASELINE_REFUSALS = {
    "conflict": (
        {"t_py__a": entry(11 * MiB, NEW_COMMIT)},
        {"t_py__a": entry(12 * MiB, NEW_COMMIT)},
        ["'t.py::a' differs between", "must not overlap"],
    ),
    "environment": (
        {"t_py__a": entry(11 * MiB, NEW_COMMIT)},
        {"t_py__b": entry(21 * MiB, NEW_COMMIT, OTHER_PYTHON)},
        ["different environments (python 3.12.1 vs 3.11.7)", "merge each environment's"],
    ),
    "commit": (
        {"t_py__a": entry(11 * MiB, NEW_COMMIT)},
        {"t_py__b": entry(21 * MiB, {**RECORDED, "commit": "8" * 40})},
        ["different commits", "the baseline the shards started from"],
    ),
}


@pytest.mark.parametrize("case", sorted(BASELINE_REFUSALS))
def test_baselines_that_do_not_merge_are_refused_and_nothing_is_written(
    tmp_path: Path, started: dict[str, BaselineEntry], case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, words = BASELINE_REFUSALS[case]
    one = shard_baseline(tmp_path / "1.json", started, **first)
    two = shard_baseline(tmp_path / "2.json", started, **second)
    out = tmp_path / "baseline.json"
    before = out.read_bytes()
    assert main(["merge", "--baseline", str(out), str(one), str(two)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and all(word in err for word in words), err
    assert "nothing was written" in err and out.read_bytes() == before


def test_a_corrupt_target_baseline_is_never_overwritten(
    tmp_path: Path, started: dict[str, BaselineEntry], capsys: pytest.CaptureFixture[str]
) -> None:
    one = shard_baseline(tmp_path / "1.json", started, t_py__a=entry(11 * MiB, NEW_COMMIT))
    out = tmp_path / "baseline.json"
    out.write_text('{"schema_version": 1, "scenarios": {"t.py::a": ', encoding="utf-8")
    assert main(["merge", "--baseline", str(out), str(one)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert out.read_text() == '{"schema_version": 1, "scenarios": {"t.py::a": '


def test_a_merged_report_names_its_shards_without_machine_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Shards given by absolute path are named relative to the merged report (when inside its
    directory or the working directory), else by file name; never by this machine's path."""
    (tmp_path / "ci" / "out").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    inside = shard(tmp_path / "ci" / "out" / "shard-1.json", {"t.py::test_a": "pass"}, suite_size=3)
    under_cwd = shard(tmp_path / "ci" / "shard-2.json", {"t.py::test_b": "pass"}, suite_size=3)
    outside = shard(tmp_path / "elsewhere" / "shard-3.json", {"t.py::test_c": "pass"}, suite_size=3)
    monkeypatch.chdir(tmp_path / "ci")
    merged = tmp_path / "ci" / "out" / "merged.json"
    assert main(["merge", str(inside), str(under_cwd), str(outside), "-o", str(merged)]) == 0
    capsys.readouterr()
    names = [s["report"] for s in json.loads(merged.read_text())["shards"]]
    assert names == ["shard-1.json", "../shard-2.json", "shard-3.json"]
    assert str(tmp_path) not in merged.read_text()


@pytest.mark.parametrize("verdict", ["REGRESSION", "", "passed", 1, None])
def test_a_verdict_the_gate_never_gives_is_refused_naming_the_key(
    tmp_path: Path, verdict: object, capsys: pytest.CaptureFixture[str]
) -> None:
    """An edited verdict once merged as "1 REGRESSION, 1 pass" with exit 0."""
    one = shard(tmp_path / "a.json", {"t.py::test_a": "pass"}, suite_size=2)
    two = shard(tmp_path / "b.json", {"t.py::test_b": "regression"}, suite_size=2)
    document = json.loads(two.read_text())
    document["scenarios"][0]["verdict"] = verdict
    two.write_text(json.dumps(document), encoding="utf-8")
    merged = tmp_path / "merged.json"
    assert main(["merge", str(one), str(two), "-o", str(merged)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(two) in err and "'t.py::test_b'" in err, err
    assert f"verdict is {'null' if verdict is None else repr(verdict)}" in err, err
    assert "not one of pass, regression" in err or not isinstance(verdict, str), err
    assert not merged.exists()
    assert main(["report", str(two)]) == 2


def test_a_pass_beside_a_finding_that_regressed_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = shard(tmp_path / "a.json", {"t.py::test_a": "pass"}, suite_size=1)
    document = json.loads(one.read_text())
    document["scenarios"][0]["findings"] = [
        {"metric": "heap peak", "reason": "peak", "regressed": True, "improved": False, "ambiguous": False}
    ]
    one.write_text(json.dumps(document), encoding="utf-8")
    assert main(["merge", str(one), "-o", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert "verdict is 'pass', but findings[0] regressed" in err, err


@pytest.mark.parametrize(
    ("verdict", "flags", "message"),
    [
        ("error", {"fails": False}, "fails is false, but the verdict is 'error'"),
        ("pass", {"fails": True, "failure": "strict_new"}, "failure is 'strict_new', but the verdict is"),
        ("pass", {"fails": True, "failure": "verdict"}, "failure is 'verdict', but the verdict 'pass' fails"),
        ("new", {"fails": False, "failure": "strict_new"}, "fails is false (a boolean), but failure is"),
        ("regression", {"fails": "no"}, "fails is 'no', not true or false"),
        ("improved", {"fails": True}, "fails is true, but the verdict 'improved' fails no test"),
        ("new", {"fails": True, "failure": "strict"}, "failure is 'strict', not one of verdict, strict_new"),
    ],
)
def test_a_fails_flag_the_gate_would_not_set_is_refused(
    tmp_path: Path, verdict: str, flags: dict[str, object], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The flag decides the exit status of report and merge: an edit that could never come
    from ``failing.scenario_failure`` is refused, as an edited verdict is."""
    one = shard(tmp_path / "a.json", {"t.py::test_a": verdict}, suite_size=1)
    document = json.loads(one.read_text())
    document["scenarios"][0].update(flags)
    one.write_text(json.dumps(document), encoding="utf-8")
    assert main(["merge", str(one), "-o", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert message in err and "'t.py::test_a'" in err, err
    assert main(["report", str(one)]) == 2
