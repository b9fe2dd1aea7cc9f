"""The plugin must not get in the way of ordinary pytest use."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers.pytester_runs import run

from pytest_memgate.config import OPTIONS

pytestmark = pytest.mark.slow

SMALL = """
import os
import pytest

KEPT = []

@pytest.mark.memload(iterations=5, warmup=1)
def test_scenario():
    data = [bytearray(1024) for _ in range(50)]
    if os.environ.get("PLANT") == "leak":
        KEPT.append(bytearray(64 * 1024))
    return len(data)

def test_plain():
    assert True

def test_other():
    assert True
"""


def test_pytest_help_lists_every_option(pytester: pytest.Pytester) -> None:
    """argparse %-formats help strings: one bare '%' in an option's text broke --help."""
    result = pytester.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK, result.stderr.str()
    out = result.stdout.str()
    for option in OPTIONS:
        assert option.flag in out, option.flag
    assert "25% of the memory limit" in out


EVERYDAY = [
    (["--co"], pytest.ExitCode.OK, ["*test_scenario*", "*3 tests collected*"]),
    (["-p", "no:memgate"], pytest.ExitCode.OK, ["*3 passed*"]),
    (["-q"], pytest.ExitCode.OK, ["3 passed*"]),
    (["-v"], pytest.ExitCode.OK, ["*test_scenario PASSED*", "*3 passed*"]),
    (["-x"], pytest.ExitCode.OK, ["*3 passed*"]),
    (["--lf"], pytest.ExitCode.OK, ["*3 passed*"]),
    (["-k", "scenario"], pytest.ExitCode.OK, ["*1 passed, 2 deselected*"]),
    (["-n", "2"], pytest.ExitCode.OK, ["*3 passed*"]),
    (["--junitxml", "junit.xml"], pytest.ExitCode.OK, ["*junit.xml*", "*3 passed*"]),
]


@pytest.mark.parametrize("gate", [False, True], ids=["plain", "memgate"])
@pytest.mark.parametrize(("args", "code", "lines"), EVERYDAY, ids=[" ".join(a) for a, _, _ in EVERYDAY])
def test_everyday_pytest_options(
    pytester: pytest.Pytester, args: list[str], code: pytest.ExitCode, lines: list[str], gate: bool
) -> None:
    pytester.makepyfile(test_small=SMALL)
    options = [*args, "--memgate"] if gate and args != ["-p", "no:memgate"] else args
    result = pytester.runpytest_subprocess(*options)
    assert result.ret == code, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(lines)
    out = result.stdout.str()
    measured = gate and args not in (["--co"], ["-p", "no:memgate"])
    assert ("= memgate =" in out) is measured, out
    if measured and args not in (["-q"], ["-n", "2"]):
        assert "memgate test_small.py::test_scenario: " in out or "run 1:" in out
    if args == ["--junitxml", "junit.xml"]:
        xml = (pytester.path / "junit.xml").read_text()
        assert ('<property name="memgate_verdict" value="new"' in xml) is gate, xml


def test_progress_the_pytest_way(pytester: pytest.Pytester) -> None:
    """One growing line per scenario by default, each run's figures with -v, quiet with -q."""
    pytester.makepyfile(test_small=SMALL)
    default = run(pytester, "--memgate")
    default.stdout.fnmatch_lines(["memgate test_small.py::test_scenario: run 1 2 -> new *"])
    verbose = run(pytester, "--memgate", "-v")
    verbose.stdout.fnmatch_lines(
        [
            "memgate test_small.py::test_scenario: up to 2 runs (4 to confirm a jump in peak),"
            " looks at [[]2[]]",
            "  run 1: heap peak *, heap growth *, RSS peak *, RSS growth * (* s)",
            "  run 2: heap peak *",
            "  look after 2 runs: new",
        ]
    )
    quiet = run(pytester, "--memgate", "-q")
    assert "run 1" not in quiet.stdout.str()


ASYNC = """
import asyncio
import os
import pytest
import pytest_asyncio

KEPT = []

async def handle(size):
    await asyncio.sleep(0)
    body = [bytearray(256) for _ in range(size)]
    if os.environ.get("PLANT") == "leak":
        KEPT.append(bytearray(32 * 1024))
    return len(body)

@pytest.mark.memload(iterations=10, warmup=2)
async def test_plain_coroutine():
    await handle(100)

@pytest_asyncio.fixture
async def client():
    return {"size": 100}

@pytest.mark.asyncio
@pytest.mark.memload(iterations=10, warmup=2)
async def test_pytest_asyncio(client):
    await handle(client["size"])

@pytest.fixture
def anyio_backend():
    return "asyncio"

@pytest.mark.anyio
@pytest.mark.memload(iterations=10, warmup=2)
async def test_anyio(anyio_backend):
    await handle(100)

def test_ordinary():
    assert True
"""


def test_async_scenarios_are_measured_and_a_leak_in_one_is_caught(pytester: pytest.Pytester) -> None:
    """Plain coroutines, pytest-asyncio (with an async fixture) and anyio: each awaited on a
    loop the measured child owns. One async test used to abort the whole session."""
    pytester.makepyfile(test_async=ASYNC)
    # three baseline runs a scenario, not six: a 32 KiB/call leak is plain against either
    recorded = run(pytester, "--memgate", "--memgate-update", "--memgate-baseline-runs", "3", autoload=True)
    assert recorded.ret == pytest.ExitCode.OK, recorded.stdout.str()
    baseline = json.loads((pytester.path / ".memgate/baseline.json").read_text())
    assert set(baseline["scenarios"]) == {
        "test_async.py::test_plain_coroutine",
        "test_async.py::test_pytest_asyncio",
        "test_async.py::test_anyio",
    }
    leaking = run(pytester, "--memgate", plant="leak", autoload=True)
    assert leaking.ret == pytest.ExitCode.TESTS_FAILED, leaking.stdout.str()
    leaking.stdout.fnmatch_lines(["*3 failed, 1 passed*"])
    headlines = [line for line in leaking.outlines if line.startswith("memgate: REGRESSION (")]
    assert len(headlines) == 3, leaking.stdout.str()


THREAD = """
import queue
import threading
import pytest

@pytest.fixture
def server():
    requests = queue.Queue()
    answers = queue.Queue()

    def serve():
        while True:
            answers.put(requests.get() * 2)

    threading.Thread(target=serve, name="fixture-server", daemon=True).start()
    return requests, answers

@pytest.mark.memload(iterations=5, warmup=1, timeout=3)
def test_asks_the_server(server):
    requests, answers = server
    requests.put(21)
    assert answers.get() == 42
"""


def test_a_fixture_thread_is_named_when_the_run_hangs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_thread=THREAD)
    result = run(pytester, "--memgate")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*ERROR (timed out) in test_thread.py::test_asks_the_server*",
            "*run 1 timed out*threads alive in the pytest process (fixture-server) do not exist "
            "in the measured child*",
        ]
    )


def test_report_path_is_relative_to_where_pytest_was_started(pytester: pytest.Pytester) -> None:
    """Like --junitxml: the command line's relative path is taken from the working directory,
    not the rootdir, and every file written is named."""
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    pytester.makepyfile(test_small=SMALL)
    sub = pytester.mkdir("sub")
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--memgate",
            "--memgate-report", "r.json", str(pytester.path / "test_small.py"),
        ],
        cwd=sub, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (sub / "r.json").is_file() and not (pytester.path / "r.json").exists()
    assert f"report written: {sub / 'r.json'}" in done.stdout
