"""Shared scenario and runner for the end-to-end tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Small but honest: three isolated runs of 3 warm-up + 20 measured calls each.
SCENARIO = """
import os
import pytest

LEAK = os.environ.get("PLANT") == "leak"
DOUBLE = os.environ.get("PLANT") == "double"
_kept = []

@pytest.fixture
def payload():
    return [{{"id": i, "name": "user%d" % i, "tags": ["a", "b"]}} for i in range({size})]

@pytest.mark.memload(iterations=20, warmup=3)
def test_handler(payload):
    import json
    text = json.dumps(payload)
    if DOUBLE:
        second = json.dumps(payload)
        del second
    if LEAK:
        _kept.append(bytearray(2048))
    return len(text)
"""


def write_scenario(pytester: pytest.Pytester, size: int = 6000) -> None:
    pytester.makepyfile(test_scenario=SCENARIO.format(size=size))


def run(pytester: pytest.Pytester, *args: str, plant: str = "") -> pytest.RunResult:
    """pytest in a subprocess, with ``PLANT`` selecting the variant the scenario runs."""
    saved = os.environ.get("PLANT")
    os.environ["PLANT"] = plant
    try:
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    finally:
        if saved is None:
            del os.environ["PLANT"]
        else:
            os.environ["PLANT"] = saved


def record_baseline(pytester: pytest.Pytester) -> Path:
    write_scenario(pytester)
    result = run(pytester, "--memgate", "--memgate-update")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    baseline = pytester.path / ".memgate" / "baseline.json"
    assert baseline.is_file()
    return baseline
