"""Baseline lifecycle end to end: branches, CI variables, acceptance, environments, xdist."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from helpers.pytester_runs import record_baseline, run, write_scenario

from pytest_memgate.branches import CI_VARIABLES

pytestmark = pytest.mark.slow


@pytest.fixture
def repo(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real git repository on branch main holding one scenario and update_branches, run
    as a CI system would run it (CI=true, the branch from git)."""
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CI", "true")
    pytester.makepyprojecttoml('[tool.memgate]\nupdate_branches = ["main", "release/*"]\n')
    write_scenario(pytester, size=2000)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=pytester.path, check=True)
    subprocess.run([*git, "add", "-A"], cwd=pytester.path, check=True)
    subprocess.run([*git, "commit", "-qm", "scenario"], cwd=pytester.path, check=True)
    return pytester.path


def checkout(path: Path, branch: str) -> None:
    subprocess.run(["git", "checkout", "-q", "-b", branch], cwd=path, check=True)


def test_update_branch_writes_and_feature_branch_never_does(pytester: pytest.Pytester, repo: Path) -> None:
    baseline = repo / ".memgate" / "baseline.json"
    checkout(repo, "feature/cache")
    result = run(pytester, "--memgate")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*baseline not updated: branch 'feature/cache' (git) matches none*"])
    assert not baseline.exists()

    checkout(repo, "release/2.4")
    result = run(pytester, "--memgate")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*baseline written for test_scenario.py::test_handler: branch 'release/2.4' (git) "
            "matches update_branches 'release/*'*"
        ]
    )
    entry = json.loads(baseline.read_text())["scenarios"]["test_scenario.py::test_handler"]
    assert entry["recorded"]["branch"] == "release/2.4"
    assert len(entry["recorded"]["commit"]) == 40


def test_a_local_run_on_an_update_branch_leaves_the_baseline_alone(
    pytester: pytest.Pytester, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI")
    checkout(repo, "release/2.5")
    result = run(pytester, "--memgate")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*baseline not updated: branch 'release/2.5' (git) matches update_branches 'release/*', "
            "but no CI system runs this session*--memgate-update*"
        ]
    )
    assert not (repo / ".memgate" / "baseline.json").exists()


def test_pull_request_into_main_does_not_count_as_main(
    pytester: pytest.Pytester, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GitHub checks a pull request out on main's merge ref; the source branch decides.
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_HEAD_REF", "feature/x")
    monkeypatch.setenv("GITHUB_REF_NAME", "17/merge")
    result = run(pytester, "--memgate")
    result.stdout.fnmatch_lines(["*branch 'feature/x' (GitHub Actions GITHUB_HEAD_REF) matches none*"])
    assert not (repo / ".memgate" / "baseline.json").exists()


def test_regressed_scenario_is_not_refreshed_on_main_but_accept_records_it(
    pytester: pytest.Pytester, repo: Path
) -> None:
    baseline = repo / ".memgate" / "baseline.json"
    assert run(pytester, "--memgate").ret == 0  # on main: records
    before = baseline.read_text()

    result = run(pytester, "--memgate", plant="leak")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*baseline NOT updated for test_scenario.py::test_handler: it regressed*"])
    assert baseline.read_text() == before

    result = run(
        pytester,
        "--memgate",
        "--memgate-accept",
        "test_scenario.py::*",
        "--memgate-reason",
        "keeps a 2 KiB audit record per request",
        plant="leak",
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["*baseline written for test_scenario.py::test_handler: accepted (keeps a 2 KiB*"]
    )
    entry = json.loads(baseline.read_text())["scenarios"]["test_scenario.py::test_handler"]
    assert entry["recorded"]["accepted"]["reason"] == "keeps a 2 KiB audit record per request"
    assert abs(entry["recorded"]["accepted"]["previous_growth_bytes_per_call"]) < 64
    assert entry["growth_bytes_per_call"] > 1500

    # From now on the leak is the baseline, and the old behaviour reads as an improvement.
    assert run(pytester, "--memgate", plant="leak").ret == 0
    improved = run(pytester, "--memgate")
    assert improved.ret == 0
    improved.stdout.fnmatch_lines(["*test_handler*improved*"])


def test_accept_without_reason_is_a_usage_error(pytester: pytest.Pytester) -> None:
    write_scenario(pytester, size=10)
    result = run(pytester, "--memgate", "--memgate-accept", "*")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--memgate-accept needs --memgate-reason*"])


@pytest.mark.parametrize(
    ("policy", "code", "line"),
    [
        ("skip", 0, "*baseline environment differs (python 3.8.10 -> 3.*); not compared*"),
        ("warn", 1, "*baseline environment differs (python 3.8.10 -> 3.*); compared anyway*"),
        ("fail", 1, "*env_mismatch = 'fail'*"),
    ],
)
def test_environment_mismatch_policy(pytester: pytest.Pytester, policy: str, code: int, line: str) -> None:
    baseline = record_baseline(pytester)
    document = json.loads(baseline.read_text())
    entry = document["scenarios"]["test_scenario.py::test_handler"]
    entry["environment"]["python"] = "3.8.10"
    baseline.write_text(json.dumps(document))
    result = run(pytester, "--memgate", f"--memgate-env-mismatch={policy}", plant="leak")
    assert result.ret == code, result.stdout.str()
    result.stdout.fnmatch_lines([line])
    if policy == "skip":  # not compared is visibly not compared: its own outcome, and a warning
        result.stdout.fnmatch_lines(
            [
                "*MemgateWarning*not compared with its baseline*",
                "*test_handler*skipped: environment differs: python 3.8.10 -> 3.*",
                "memgate: 1 skipped, skipped scenarios were NOT compared with their baseline",
                "*1 passed, 1 warning*",
            ]
        )


def test_environments_side_by_side_with_a_path_template(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.memgate]\nbaseline = ".memgate/{python}-{machine}-{backend}.json"\n')
    write_scenario(pytester, size=100)
    assert run(pytester, "--memgate-update").ret == 0
    (written,) = (pytester.path / ".memgate").glob("*.json")
    assert written.name.startswith("3.") and written.name.endswith("-memray.json")


def test_xdist_measures_each_scenario_once_and_writes_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_many="""
        import pytest

        @pytest.mark.memload(iterations=6, warmup=1)
        @pytest.mark.parametrize("size", [1000, 2000, 3000, 4000])
        def test_sized(size):
            return bytearray(size * 100)
        """
    )
    result = run(pytester, "-n", "2", "--memgate", "--memgate-update", "--memgate-report", "r.json")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*test_many.py::test_sized[[]4000[]]*new*"])
    # the controller prints each scenario as its result arrives: progress, not a minute of dots
    arrived = [line for line in result.stdout.lines if line.startswith("memgate test_many.py::test_sized[")]
    assert len(arrived) == 4, result.stdout.str()
    for line in arrived:
        assert re.fullmatch(
            r"memgate test_many\.py::test_sized\[\d+\] on gw[01]: new after 6 runs \(heap peak .+, "
            r"growth .+/call\) \[\d scenarios? done\]",
            line,
        ), line
    assert sorted(line.rsplit("[", 1)[1] for line in arrived) == [
        f"{n} {'scenario' if n == 1 else 'scenarios'} done]" for n in (1, 2, 3, 4)
    ]
    baseline = json.loads((pytester.path / ".memgate" / "baseline.json").read_text())
    assert len(baseline["scenarios"]) == 4
    report = json.loads((pytester.path / "r.json").read_text())
    assert sorted(s["id"] for s in report["scenarios"]) == sorted(baseline["scenarios"])
    assert all(s["runs"] == 6 for s in report["scenarios"])  # baseline_runs
    peaks = [baseline["scenarios"][f"test_many.py::test_sized[{n}]"]["peak_bytes"] for n in (1000, 4000)]
    assert 3.5 < peaks[1] / peaks[0] < 4.5


def test_stale_scenarios_are_reported_but_not_for_deselected_ones(pytester: pytest.Pytester) -> None:
    two = """
        import pytest

        @pytest.mark.memload(iterations=5, warmup=1)
        def test_kept():
            bytearray(1000)

        @pytest.mark.memload(iterations=5, warmup=1)
        def test_{name}():
            bytearray(2000)
        """
    pytester.makepyfile(test_pair=two.format(name="removed"))
    assert run(pytester, "--memgate-update").ret == 0
    deselected = run(pytester, "--memgate", "-k", "kept")
    assert "with no test in this session" not in deselected.stdout.str()
    # A node id collects one test of the file: the other is not gone, and the level per
    # test stays the suite's (the baseline's two scenarios), not the selection's one.
    one = run(pytester, "--memgate", "test_pair.py::test_kept")
    assert "with no test in this session" not in one.stdout.str()
    one.stdout.fnmatch_lines(["*(2 scenario(s) x 4 metrics x * looks; suite size: the baseline's 2*"])
    pytester.makepyfile(test_pair=two.format(name="renamed"))
    result = run(pytester, "--memgate")
    result.stdout.fnmatch_lines(
        [
            "*baseline has 1 scenario(s) with no test in this session: "
            "test_pair.py::test_removed*memgate prune*"
        ]
    )


def test_xdist_worker_crash_loses_only_the_test_in_flight(pytester: pytest.Pytester) -> None:
    """Results travel on each scenario's report: a worker that dies later loses none of them."""
    pytester.makepyfile(
        test_crash="""
        import os
        import pytest

        @pytest.mark.memload(iterations=5, warmup=1)
        def test_a_first():
            return bytearray(10_000)

        def test_b_kills_the_worker():
            os._exit(1)

        @pytest.mark.memload(iterations=5, warmup=1)
        def test_c_after():
            return bytearray(10_000)
        """
    )
    result = run(pytester, "-n", "1", "--memgate", "--memgate-report", "r.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    report = json.loads((pytester.path / "r.json").read_text())
    assert {s["id"] for s in report["scenarios"]} == {
        "test_crash.py::test_a_first",
        "test_crash.py::test_c_after",
    }
    result.stdout.fnmatch_lines(["*test_b_kills_the_worker*crashed*"])


def test_a_scenario_whose_xdist_worker_crashed_is_an_error_in_the_report(pytester: pytest.Pytester) -> None:
    """A scenario lost with its worker is listed as an error: a shard's report never omits it."""
    pytester.makepyfile(
        test_crash="""
        import os
        import pytest

        @pytest.fixture
        def fatal():
            os._exit(1)

        @pytest.mark.memload(iterations=5, warmup=1)
        def test_a_first():
            return bytearray(10_000)

        @pytest.mark.memload(iterations=5, warmup=1)
        def test_b_kills_the_worker(fatal):
            return bytearray(10_000)
        """
    )
    result = run(pytester, "-n", "1", "--memgate", "--memgate-runs", "1", "--memgate-report", "r.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    report = json.loads((pytester.path / "r.json").read_text())
    verdicts = {s["id"]: (s["verdict"], s["message"]) for s in report["scenarios"]}
    assert verdicts["test_crash.py::test_a_first"][0] == "new"
    verdict, message = verdicts["test_crash.py::test_b_kills_the_worker"]
    assert verdict == "error" and "worker crashed" in message, message
    result.stdout.fnmatch_lines(["*test_crash.py::test_b_kills_the_worker*error*"])


SIZED = """
import pytest

@pytest.mark.memload(iterations=5, warmup=1, sizes=[2000, 4000, 8000, 16000])
def test_family(memload_size):
    return [bytearray(64) for _ in range(memload_size)]

@pytest.mark.memload(iterations=5, warmup=1)
def test_kept():
    return bytearray(1000)

@pytest.mark.memload(iterations=5, warmup=1)
def test_other():
    return bytearray(1000)
"""


def test_xdist_keeps_a_size_family_together_and_ships_deselection(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sized=SIZED)
    update = ("--memgate-update", "--memgate-baseline-runs", "3")  # a fit's points, not a baseline's power
    result = run(pytester, "-n", "2", "--memgate", *update, "--memgate-report", "r.json")
    assert result.ret == 0, result.stdout.str()
    report = json.loads((pytester.path / "r.json").read_text())
    scaling = [s["scaling"] for s in report["scenarios"] if s["scaling"]]
    assert len(scaling) == 1 and scaling[0]["sizes"] == [2000, 4000, 8000, 16000]
    assert 0.8 < scaling[0]["exponent"] < 1.2
    # sizes sort by value in the table: n=4000 before n=16000
    out = result.stdout.str()
    assert out.index("test_family[n=4000]") < out.index("test_family[n=16000]")
    deselected = run(pytester, "-n", "2", "--memgate", "-k", "test_kept")
    assert deselected.ret == 0, deselected.stdout.str()
    assert "no test in this session" not in deselected.stdout.str()
