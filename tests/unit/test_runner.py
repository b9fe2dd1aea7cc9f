"""How a measuring child's end maps to a record, and one real forked run."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from pytest_memgate.model import RunRecord, RunRequest, RunStatus
from pytest_memgate.runner import _RESULT, _Child, _End, _finish, _signal_name, run_isolated
from pytest_memgate.units import format_size

REQUEST = RunRequest(warmup=0, iterations=5, backend="memray", hard_cap_bytes=100 * 1024**2)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))  # as the module's code names it


def finish(tmp_path: Path, end: _End) -> RunRecord:
    child = _Child(pid=0, workdir=tmp_path, started=0.0, rss_at_fork=10 * 1024**2, kill_rss=None)
    return _finish(child, end, REQUEST, timeout_s=7)


def killed_by(signum: int) -> int:
    """The wait status of a child that a signal ended."""
    return signum


def exited(code: int) -> int:
    return code << 8


def test_signal_names_come_from_the_public_api() -> None:
    assert _signal_name(signal.SIGSEGV) == "SIGSEGV"
    assert _signal_name(signal.SIGABRT) == "SIGABRT"
    unnamed = next(n for n in range(1, 65) if n not in {s.value for s in signal.Signals})
    assert _signal_name(unnamed) == str(unnamed)


def test_a_crash_names_its_signal(tmp_path: Path) -> None:
    record = finish(tmp_path, _End(killed_by(signal.SIGSEGV), 1.5))
    assert (record.status, record.error, record.wall_s) == (
        RunStatus.CRASHED,
        "crashed with signal SIGSEGV",
        1.5,
    )
    assert (record.backend, record.iterations) == ("memray", 5)


def test_sigkill_reads_as_the_oom_killer(tmp_path: Path) -> None:
    record = finish(tmp_path, _End(killed_by(signal.SIGKILL), 1.0))
    assert record.status is RunStatus.KILLED
    assert "OOM killer" in record.error


def test_timeout_and_hard_cap_backstop(tmp_path: Path) -> None:
    timed_out = finish(tmp_path, _End(None, 7.1))
    assert (timed_out.status, timed_out.error) == (RunStatus.TIMED_OUT, "timed out after 7 s and was killed")
    capped = finish(tmp_path, _End(None, 2.0, capped_at=210 * 1024**2))
    assert capped.status is RunStatus.HARD_CAP
    assert capped.error.startswith(
        f"exceeded hard cap at {format_size(200 * 1024**2)} of RSS growth (cap {format_size(100 * 1024**2)})"
    )


def test_exit_without_a_result_is_a_crash(tmp_path: Path) -> None:
    record = finish(tmp_path, _End(exited(4), 0.5))
    assert record.status is RunStatus.CRASHED
    assert record.error.startswith("exited with status 4 without writing its result")


def test_a_written_result_is_read_back_with_the_parents_wall_time(tmp_path: Path) -> None:
    written = RunRecord(RunStatus.OK, "tracemalloc", iterations=5, wall_s=0.1, limitations=("no peak",))
    (tmp_path / _RESULT).write_text(json.dumps(written.to_dict()))
    record = finish(tmp_path, _End(exited(0), 3.0))
    assert record.wall_s == 3.0
    assert record.limitations == ("no peak",)


_KEPT: list[bytes] = []


def keep_rows() -> None:
    _KEPT.append(bytes(32 * 1024))


def test_the_project_root_travels_to_the_child() -> None:
    request = RunRequest(warmup=1, iterations=3, backend="tracemalloc", project_root=ROOT)
    record = run_isolated(keep_rows, request, timeout_s=60)
    assert record.ok, record.error
    assert len(record.rss_floor_bytes) == len(record.heap_floor_bytes) == 4
    top = record.retained_sites[0]
    assert (top.function, top.filename) == ("keep_rows", "tests/unit/test_runner.py")
    assert record.limitations
