"""benchmarks/compare_tools.py's pure parts: limits, failure reading, the table (no real runs)."""

from __future__ import annotations

import ast

import pytest
from helpers.scripts import load_script

ct = load_script("benchmarks/compare_tools.py")


def test_limit_is_the_peak_plus_ten_percent() -> None:
    assert ct.memray_limit(4 * 1024 * 1024) == f"{round(4 * 1024 * 1024 * 1.1)} B"


def test_limit_stays_passable_when_memray_sees_no_peak() -> None:
    # a limit of 0 B fails every run, the unchanged one included
    assert ct.memray_limit(0) == "1024 B"


def test_memray_failures_are_told_apart() -> None:
    assert ct.memray_checks("Test was limited to 4.4MiB but allocated 8.0MiB") == "limit_memory"
    leak = "Test was allowed to leak 1.0KiB per location but at least one location leaked more"
    assert ct.memray_checks(leak) == "limit_leaks"
    assert ct.memray_checks("1 passed") == ""


def test_memgate_reasons_come_from_failing_scenarios_only() -> None:
    report = {
        "scenarios": [
            {"id": "a", "verdict": "pass", "reasons": []},
            {"id": "b", "verdict": "regression", "reasons": ["growth", "rss_growth"]},
            {"id": "c", "verdict": "error"},
        ]
    }
    assert ct.memgate_checks(report) == "growth+rss_growth+error"


def test_memgate_names_the_metrics_its_findings_name() -> None:
    findings = [
        {"metric": "heap growth", "regressed": False},
        {"metric": "RSS growth", "regressed": True},
    ]
    report = {"scenarios": [{"verdict": "regression", "reasons": ["growth"], "findings": findings}]}
    assert ct.memgate_checks(report) == "RSS growth"


@pytest.mark.parametrize("scenario", ct.SCENARIOS, ids=ct.NAMES)
def test_every_generated_module_is_python_with_the_test_and_its_benchmark(scenario: object) -> None:
    tree = ast.parse(ct.module_text(scenario, "4613771 B", "1 KB"))
    tests = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    name = scenario.name  # type: ignore[attr-defined]
    assert tests == [f"test_{name}", f"test_{name}_bench"]


def _result(name: str, plain: list[float], gate: list[tuple[bool, float, str]]) -> object:
    scenario = next(s for s in ct.SCENARIOS if s.name == name)
    result = ct.ScenarioResult(scenario, "10 B", 4096, {"memgate": 12.0})
    result.tools["plain"].unchanged = [ct.Outcome(False, s) for s in plain]
    result.tools["plain"].changed = [ct.Outcome(False, s) for s in plain]
    result.tools["memgate"].unchanged = [ct.Outcome(False, s * 4) for s in plain]
    result.tools["memgate"].changed = [ct.Outcome(*g) for g in gate]
    return result


def test_table_counts_failures_and_gives_median_ratios() -> None:
    gate = [(True, 5.0, "growth"), (False, 4.0, ""), (True, 3.0, "growth")]
    result = _result("slow_leak", [1.0, 2.0, 1.0], gate)
    rows = {line.split(" | ")[2]: line for line in ct.table([result]).splitlines()[2:]}
    assert "| 2/3 (growth) | 0/3 |" in rows["memgate"]
    # per-round ratios 4, 4, 4 unchanged; 5, 2, 3 changed: medians 4.0x and 3.0x
    assert "| 4.0x (4.0 s) | 3.0x (4.0 s) |" in rows["memgate"]
    assert rows["plain"].endswith("| - | - | 1.0x (1.0 s) | 1.0x (1.0 s) |")
    assert "| - | - | - | - |" in rows["memray limit_memory"]  # not run: no figures invented
    assert "| - | - | - | - |" in rows["benchmem"]


def test_setup_table_gives_recording_against_plain() -> None:
    result = _result("noise", [2.0, 4.0, 3.0], [(False, 1.0, "")] * 3)
    # a tool whose recording did not run reads "-"
    assert "| noise | 4 KiB | 10 B | 12.0 (4.0x) | - |" in ct.setup_table([result])


def test_unknown_scenario_is_refused_with_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        ct.parse_args(["--only", "slow_leak,nope"])
    assert "unknown scenario(s) nope; choose from slow_leak" in capsys.readouterr().err
