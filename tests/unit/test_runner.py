"""How a measuring child's end maps to a record; real forked runs, and nothing outliving them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_memgate import runner
from pytest_memgate.child import RESULT_NAME
from pytest_memgate.model import RunRecord, RunRequest, RunStatus
from pytest_memgate.runner import _Child, _End, _finish, _signal_name, run_isolated
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
    (tmp_path / RESULT_NAME).write_text(json.dumps(written.to_dict()))
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


def test_the_childs_own_deadline_reads_as_a_timeout(tmp_path: Path) -> None:
    record = finish(tmp_path, _End(killed_by(signal.SIGALRM), 7.5))
    assert (record.status, record.error) == (
        RunStatus.TIMED_OUT,
        "timed out after 7 s and was stopped by its own deadline",
    )


# --- nothing outlives a run ---------------------------------------------------------------

HANGS = RunRequest(warmup=0, iterations=5, backend="tracemalloc")


def gone(pids: list[int], within_s: float = 10.0) -> list[int]:
    """The pids still running (zombies count as gone: their parent may be a PID 1 that never
    reaps) once ``within_s`` has passed; empty as soon as all are gone."""
    import psutil

    deadline = time.monotonic() + within_s
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def kill_all(pids: list[int]) -> None:
    """After a failed test: what a run left running (children of this process are reaped too)."""
    import psutil

    for pid in pids:
        try:
            process = psutil.Process(pid)
            if process.ppid() == os.getpid() or process.name() == "sleep":
                process.kill()
        except psutil.Error:
            pass
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def unreaped(pid: int) -> bool:
    """True while ``pid`` is a child of this process that nobody has waited for (reaps it)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return True


class Marks:
    """Files a scenario leaves behind: one per process that ran it, holding the pids it started."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir()

    def write(self, *pids: int) -> None:
        path = self.directory / str(os.getpid())
        with open(path, "a") as handle:
            handle.write("".join(f"{pid}\n" for pid in pids))

    def runners(self) -> list[int]:
        return sorted(int(path.name) for path in self.directory.iterdir())

    def started(self) -> list[int]:
        return [int(line) for path in self.directory.iterdir() for line in path.read_text().split()]

    def wait_for(self, count: int, within_s: float = 30.0) -> list[int]:
        deadline = time.monotonic() + within_s
        while len(self.runners()) < count:
            assert time.monotonic() < deadline, "the measuring children never started the scenario"
            time.sleep(0.02)
        return self.runners()


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp dir of the test's own, so that captures left behind can be seen."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def captures(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob("memgate-run-*"))


def test_ctrl_c_between_the_two_forks_orphans_nothing(
    tmp_path: Path, temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marks = Marks(tmp_path / "marks")
    started: list[_Child] = []
    real_start = runner._start

    def start(*args: Any) -> _Child:
        if started:
            raise KeyboardInterrupt  # as if Ctrl-C arrived just before the second fork
        started.append(real_start(*args))
        return started[-1]

    def body() -> None:
        marks.write()
        time.sleep(30)

    monkeypatch.setattr(runner, "_start", start)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_isolated(body, HANGS, timeout_s=60)
        (child,) = started
        assert not unreaped(child.pid)  # killed and reaped
        assert not child.workdir.exists()
        assert captures(temp_dir) == []
    finally:
        kill_all([child.pid for child in started])


def test_a_signal_during_a_fork_waits_until_the_child_is_known(
    tmp_path: Path, temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[_Child] = []
    real_start = runner._start

    def start(*args: Any) -> _Child:
        child = real_start(*args)
        started.append(child)
        signal.raise_signal(signal.SIGINT)  # after the fork, before the run has the child in its list
        return child

    monkeypatch.setattr(runner, "_start", start)
    # Python's own Ctrl-C handler, even where the suite inherited SIGINT ignored (started in
    # the background by a script), which the run would rightly leave alone
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_isolated(lambda: time.sleep(30), HANGS, timeout_s=60)
        assert len(started) == 1
        assert not unreaped(started[0].pid)
        assert captures(temp_dir) == []
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
        kill_all([child.pid for child in started])


class Cancelled(Exception):
    pass


@pytest.mark.parametrize("handler_raises", [True, False])
def test_sigterm_cleans_up_then_reaches_the_handler_that_was_there(
    tmp_path: Path, temp_dir: Path, monkeypatch: pytest.MonkeyPatch, handler_raises: bool
) -> None:
    marks = Marks(tmp_path / "marks")
    received: list[int] = []

    def previous(signum: int, frame: object) -> None:
        received.append(signum)
        if handler_raises:
            raise Cancelled

    def body() -> None:
        marks.write()
        time.sleep(30)

    def cancel() -> None:  # what a CI runner does: SIGTERM to the pytest process, mid-run
        marks.wait_for(2)
        os.kill(os.getpid(), signal.SIGTERM)

    old = signal.signal(signal.SIGTERM, previous)
    canceller = threading.Thread(target=cancel, daemon=True)
    try:
        canceller.start()
        if handler_raises:
            with pytest.raises(Cancelled):
                run_isolated(body, HANGS, timeout_s=60)
        else:
            record = run_isolated(body, HANGS, timeout_s=60)
            assert record.status is RunStatus.CRASHED
            assert record.error == "stopped: the pytest process received SIGTERM during the run"
        canceller.join(5)
        assert received == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is previous
        assert not any(unreaped(pid) for pid in marks.runners())
        assert captures(temp_dir) == []
    finally:
        signal.signal(signal.SIGTERM, old)
        kill_all(marks.runners())


def test_the_child_keeps_a_deadline_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the parent is gone and the kernel cannot tell the child, a hanging scenario
    still ends: here the child's deadline comes first, as if the parent had stopped polling."""
    monkeypatch.setattr(runner, "_child_margin", lambda timeout_s: 0.5 - timeout_s)
    record = run_isolated(lambda: time.sleep(60), HANGS, timeout_s=60)
    assert record.status is RunStatus.TIMED_OUT
    assert record.error.endswith("stopped by its own deadline")  # not the parent's kill at 60 s


def test_a_timed_out_run_takes_its_subprocesses_with_it(tmp_path: Path) -> None:
    marks = Marks(tmp_path / "marks")

    def body() -> None:
        marks.write(subprocess.Popen(["sleep", "60"]).pid)
        time.sleep(60)

    try:
        record = run_isolated(body, HANGS, timeout_s=1.5)
        assert record.status is RunStatus.TIMED_OUT
        assert len(marks.started()) == 2
        assert gone(marks.started()) == []
    finally:
        kill_all(marks.started())


def test_a_run_leaves_no_subprocess_running(tmp_path: Path) -> None:
    marks = Marks(tmp_path / "marks")

    def body() -> None:
        marks.write(subprocess.Popen(["sleep", "60"]).pid)

    try:
        record = run_isolated(body, HANGS, timeout_s=60)
        assert record.ok, record.error
        assert len(marks.started()) == 2 * (HANGS.warmup + HANGS.iterations)
        assert gone(marks.started()) == []
    finally:
        kill_all(marks.started())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_the_child_leads_its_own_group_and_dies_with_its_parent(tmp_path: Path) -> None:
    import ctypes

    seen = tmp_path / "seen"

    def body() -> None:
        pdeathsig = ctypes.c_int(0)
        ctypes.CDLL(None).prctl(2, ctypes.byref(pdeathsig), 0, 0, 0)  # PR_GET_PDEATHSIG
        with open(seen, "a") as handle:
            handle.write(f"{os.getpid()} {os.getpgid(0)} {pdeathsig.value} {os.getppid()}\n")

    record = run_isolated(body, RunRequest(warmup=0, iterations=5, backend="tracemalloc"), timeout_s=60)
    assert record.ok, record.error
    rows = {tuple(int(v) for v in line.split()) for line in seen.read_text().splitlines()}
    assert len({row[0] for row in rows}) == 2  # both children
    for pid, pgid, pdeathsig, ppid in rows:
        assert (pgid, pdeathsig, ppid) == (pid, signal.SIGKILL, os.getpid())


def test_the_stop_signal_handlers_are_put_back_after_a_run() -> None:
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    record = run_isolated(keep_rows, RunRequest(warmup=0, iterations=5, backend="tracemalloc"), timeout_s=60)
    assert record.ok, record.error
    assert {signum: signal.getsignal(signum) for signum in before} == before


# --- independent runs in parallel ---------------------------------------------------------

PARALLEL = RunRequest(warmup=1, iterations=4, backend="tracemalloc")


def _intervals(log: Path, phase: str | None = None) -> list[tuple[float, float]]:
    """(first call, last call) of each child that logged its calls (of one phase)."""
    calls: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        pid, at, logged = line.split()
        if phase is None or logged == phase:
            calls.setdefault(pid, []).append(float(at))
    return [(min(times), max(times)) for times in calls.values()]


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most


def _children_logged(log: Path) -> int:
    """How many children have logged a call so far (whole lines only: a reader can meet a
    line still being appended)."""
    lines = log.read_text().split("\n")[:-1] if log.exists() else []
    return len({line.split()[0] for line in lines})


@pytest.mark.parametrize(("runs", "jobs"), [(3, 2), (2, 4)])
def test_independent_runs_share_the_jobs_and_come_back_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runs: int, jobs: int
) -> None:
    """The first ``jobs`` children wait for each other at their first call, so they overlap
    whatever the machine's load: the scheduler must have started that many at once, and
    no child finishes, freeing a job, before all of them have started. The upper bounds
    hold by the scheduler's rule alone. The second child starts late here, as on a loaded
    machine, where children that did not wait for each other might never overlap."""
    log = tmp_path / "calls.log"
    together = min(jobs, 2 * runs)
    start = runner._start
    started: list[int] = []

    def late_second(*args: Any) -> _Child:
        if len(started) == 1:
            time.sleep(0.5)  # longer than a child's five calls
        child = start(*args)
        started.append(child.pid)
        return child

    monkeypatch.setattr(runner, "_start", late_second)

    def body() -> None:
        import tracemalloc

        phase = "heap" if tracemalloc.is_tracing() else "rss"
        with open(log, "a") as handle:  # one short append per call: atomic between children
            handle.write(f"{os.getpid()} {time.time()} {phase}\n")
        waited = 0
        while _children_logged(log) < together and waited < 2000:  # 40 s at most (a busy machine)
            time.sleep(0.02)
            waited += 1
        time.sleep(0.05)

    records = runner.run_isolated_many(body, PARALLEL, timeout_s=60, runs=runs, jobs=jobs)
    assert [r.ok for r in records] == [True] * runs, [r.error for r in records]
    assert all(len(r.rss_floor_bytes) == len(r.heap_floor_bytes) == 5 for r in records)
    intervals = _intervals(log)
    assert len(intervals) == 2 * runs  # a heap and an RSS child per run
    assert _most_at_once(intervals) == together
    # memray's sampler must run in every quiet window: no more heap children than jobs // 2,
    # and the first batch holds that many (heap children are queued first)
    assert _most_at_once(_intervals(log, "heap")) == min(max(1, jobs // 2), runs)


def test_a_failed_run_ends_the_batch_with_its_record() -> None:
    def body() -> None:
        raise ValueError("broken scenario")

    records = runner.run_isolated_many(body, PARALLEL, timeout_s=60, runs=4, jobs=2)
    assert [r.status for r in records] == [RunStatus.RAISED]
    assert "broken scenario" in records[0].error


def test_runs_after_a_failed_one_are_killed_and_the_batch_ends_cleanly(
    tmp_path: Path, temp_dir: Path
) -> None:
    """The first child to get here raises; the others would take seconds. Runs after the
    failed one are killed (reaped once, their work directories removed), earlier ones
    finish, and the records stop at the failure. Each child logs its calls, so what ran is
    counted, not timed: a busy machine changes neither count."""
    marker = tmp_path / "first"
    calls = tmp_path / "calls.log"

    def body() -> None:
        with open(calls, "a") as handle:  # one short append per call: atomic between children
            handle.write(f"{os.getpid()}\n")
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            time.sleep(0.5)
            return
        raise ValueError("the first child fails")

    runs = 4
    records = runner.run_isolated_many(body, PARALLEL, timeout_s=60, runs=runs, jobs=2)
    assert records[-1].status is RunStatus.RAISED
    assert all(r.ok for r in records[:-1])
    assert len(records) <= 2  # the failure was in the first runs started
    per_child: dict[str, int] = {}
    for pid in calls.read_text().split():
        per_child[pid] = per_child.get(pid, 0) + 1
    every_call = PARALLEL.warmup + PARALLEL.iterations
    finished = [pid for pid, n in per_child.items() if n == every_call]
    # Only the children of the runs recorded may finish (the failed one does not): the
    # later runs are never started or are killed in their calls.
    assert len(finished) <= 2 * len(records) - 1, per_child
    assert len(per_child) < 2 * runs, per_child
    assert captures(temp_dir) == []


def _starved_once(marker: Path) -> object:
    """A ``floor_problem`` whose first call (in the first forked child) reports a starved
    sampler, and every later one nothing: the file outlives the child that made it."""

    def floor_problem(readings: list[int], windows: int, last_floor: int, kept: int) -> str | None:
        if marker.exists():
            return None
        marker.write_text("starved")
        return f"memray took floor readings in 0 of the {windows} quiet windows, too few to fit a slope"

    return floor_problem


def test_a_run_whose_floor_was_unreadable_is_measured_once_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memray_backend = pytest.importorskip("pytest_memgate.backends.memray")
    monkeypatch.setattr(memray_backend, "floor_problem", _starved_once(tmp_path / "starved"))
    record = run_isolated(lambda: bytearray(1000), REQUEST, timeout_s=60)
    assert (tmp_path / "starved").exists()  # the first heap child was starved
    assert record.ok, record.error


def test_a_run_whose_floor_stays_unreadable_is_an_error_never_flat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memray_backend = pytest.importorskip("pytest_memgate.backends.memray")

    def always(readings: list[int], windows: int, last_floor: int, kept: int) -> str:
        return "memray took floor readings in 0 of the 6 quiet windows, too few to fit a slope"

    monkeypatch.setattr(memray_backend, "floor_problem", always)
    record = run_isolated(lambda: bytearray(1000), REQUEST, timeout_s=60)
    assert record.status is RunStatus.RAISED
    assert record.error.startswith("memray's floor readings cannot show this run's growth: memray took")
