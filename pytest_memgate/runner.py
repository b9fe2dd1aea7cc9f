"""Isolated runs: fork after fixture setup, measure in the child, map its end to a record.

Why fork: the scenario's fixtures are already built in the pytest process, and a forked
child gets them as they are, with nothing to serialise. Each run starts from the same
state, cannot leave memory behind in pytest, and can crash or be OOM-killed alone.
Limits: POSIX only; threads of the parent do not exist in the child (a fixture that
started a server thread will not serve); objects tied to the parent (open sockets,
database connections) are shared with it, so scenarios should not rely on them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NoReturn

from .backends import Body, get_backend
from .backends.rss import current_rss, measure_rss
from .backends.watchdog import HardCapExceeded, start_watchdog
from .model import RunRecord, RunRequest, RunStatus
from .units import format_size

_RESULT = "record.json"


def run_isolated(body: Body, request: RunRequest, *, timeout_s: float) -> RunRecord:
    """One measured run of ``body``; never raises for the child's faults.

    A run is two forked children from the same state: one measures the heap under the
    tracker, the other resident memory with no tracker at all (a tracker's own buffers
    would otherwise show as the scenario's RSS). Both take the same warm-up, and they run
    at the same time: each measures only its own process.
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    children = [_start(body, request, phase) for phase in ("heap", "rss")]
    try:
        ends = _wait_all(children, timeout_s)
        heap, rss = (_finish(child, end, request, timeout_s) for child, end in zip(children, ends))
    finally:  # every child has been reaped by now: _wait_all kills and reaps on any error
        for child in children:
            shutil.rmtree(child.workdir, ignore_errors=True)
    if not heap.ok:
        return heap
    if not rss.ok:
        return replace(rss, error=f"{rss.error} (in the RSS phase, untracked)")
    return replace(
        heap,
        rss_floor_bytes=rss.rss_floor_bytes,
        peak_rss_bytes=rss.peak_rss_bytes,
        wall_s=max(heap.wall_s, rss.wall_s),
    )


@dataclass(frozen=True, slots=True)
class _Child:
    pid: int
    workdir: Path
    started: float
    rss_at_fork: int
    kill_rss: int | None  # the parent's backstop for the hard cap


@dataclass(frozen=True, slots=True)
class _End:
    status: int | None  # None: timed out, or killed for the hard cap
    wall_s: float
    capped_at: int | None = None


def _start(body: Body, request: RunRequest, phase: str) -> _Child:
    workdir = Path(tempfile.mkdtemp(prefix="memgate-run-"))
    rss_at_fork = current_rss()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which never returns
        _child_main(body, request, workdir, phase)
    return _Child(pid, workdir, started, rss_at_fork, _kill_threshold(request, rss_at_fork))


def _wait_all(children: list[_Child], timeout_s: float) -> list[_End]:
    """Wait for every child; kill those past the deadline or past the hard-cap backstop."""
    deadline = time.monotonic() + timeout_s
    ends: dict[int, _End] = {}
    watched = {}
    for child in children:
        if child.kill_rss is not None:
            import psutil

            watched[child.pid] = psutil.Process(child.pid)
    try:
        while len(ends) < len(children):
            for child in children:
                if child.pid in ends:
                    continue
                done, status = os.waitpid(child.pid, os.WNOHANG)
                wall_s = time.perf_counter() - child.started
                if done:
                    ends[child.pid] = _End(status, wall_s)
                elif time.monotonic() > deadline:
                    _kill(child.pid)
                    ends[child.pid] = _End(None, wall_s)
                elif child.pid in watched and child.kill_rss is not None:
                    try:
                        rss = int(watched[child.pid].memory_info().rss)
                    except Exception:  # noqa: BLE001 - the child is exiting; waitpid will tell
                        rss = 0
                    if rss > child.kill_rss:
                        _kill(child.pid)
                        ends[child.pid] = _End(None, wall_s, rss)
            if len(ends) < len(children):
                time.sleep(0.02 if watched else 0.05)
    except BaseException:
        for child in children:
            if child.pid not in ends:  # a reaped pid may already belong to someone else
                _kill(child.pid)
        raise
    return [ends[child.pid] for child in children]


def _finish(child: _Child, end: _End, request: RunRequest, timeout_s: float) -> RunRecord:
    """Map how the child ended (its exit status, its result file) to a record."""
    wall_s = end.wall_s
    if end.capped_at is not None:
        return _failed(
            RunStatus.HARD_CAP,
            request,
            wall_s,
            f"exceeded hard cap at {format_size(end.capped_at - child.rss_at_fork)} of RSS growth "
            f"(cap {format_size(request.hard_cap_bytes or 0)}) and was killed before it yielded; "
            "no allocation sites could be read",
        )
    status = end.status
    if status is None:
        return _failed(
            RunStatus.TIMED_OUT, request, wall_s, f"timed out after {timeout_s:g} s and was killed"
        )
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        if signum == signal.SIGKILL:
            return _failed(
                RunStatus.KILLED,
                request,
                wall_s,
                "killed by SIGKILL (the kernel's OOM killer ends processes this way when memory runs out)",
            )
        return _failed(RunStatus.CRASHED, request, wall_s, f"crashed with signal {_signal_name(signum)}")
    result = child.workdir / _RESULT
    if not result.is_file():
        return _failed(
            RunStatus.CRASHED,
            request,
            wall_s,
            f"exited with status {os.WEXITSTATUS(status)} without writing its result "
            "(os._exit or sys.exit in the scenario?)",
        )
    return replace(RunRecord.from_dict(json.loads(result.read_text())), wall_s=wall_s)


def _signal_name(signum: int) -> str:
    """``SIGSEGV`` for 11; the bare number for signals Python has no name for (most real-time ones)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def _kill_threshold(request: RunRequest, rss_at_fork: int) -> int | None:
    """RSS at which the parent kills outright: past the cap the child polices itself (and
    reports its allocation sites); this backstop is for code stuck in one native call."""
    if request.hard_cap_bytes is None:
        return None
    return rss_at_fork + int(request.hard_cap_bytes * 1.5) + 64 * 1024**2


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _failed(status: RunStatus, request: RunRequest, wall_s: float, error: str) -> RunRecord:
    return RunRecord(
        status=status,
        backend=request.backend,
        warmup=request.warmup,
        iterations=request.iterations,
        wall_s=wall_s,
        error=error,
    )


def _child_main(body: Body, request: RunRequest, workdir: Path, phase: str) -> NoReturn:  # pragma: no cover
    """Measure, write one JSON record, and leave without running pytest's teardown."""
    import gc

    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        rss_start = current_rss()
        if request.hard_cap_bytes is not None:
            start_watchdog(request.hard_cap_bytes, rss_start)
        gc.collect()
        gc.freeze()  # pytest's own objects: keep them out of every later collection
        if phase == "rss":
            rss = measure_rss(body, request.warmup, request.iterations, rss_start)
            record = RunRecord(
                status=RunStatus.OK,
                backend=request.backend,
                warmup=request.warmup,
                iterations=request.iterations,
                peak_rss_bytes=rss.peak_bytes,
                rss_floor_bytes=rss.floor_bytes,
            )
        else:
            backend = get_backend(request.backend)  # imported here only: it costs RSS
            record = backend.measure(body, request, workdir)  # warm-up included
    except HardCapExceeded as exc:  # before the tracker ran (warm-up) or from a backend without sites
        record = _failed(RunStatus.HARD_CAP, request, 0.0, f"{exc}; stopped before any sites were tracked")
    except BaseException as exc:  # noqa: BLE001 - the child reports everything and exits
        summary = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        record = _failed(RunStatus.RAISED, request, 0.0, f"{summary}\n\n{detail}")
        code = 3
    try:
        tmp = workdir / (_RESULT + ".tmp")
        tmp.write_text(json.dumps(record.to_dict()))
        os.replace(tmp, workdir / _RESULT)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)
