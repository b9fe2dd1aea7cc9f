"""Isolated runs: fork after fixture setup, measure in the child, map its end to a record.

Why fork: the scenario's fixtures are already built in the pytest process, and a forked
child gets them as they are, with nothing to serialise. Each run starts from the same
state, cannot leave memory behind in pytest, and can crash or be OOM-killed alone.
Limits: POSIX only; threads of the parent do not exist in the child (a fixture that
started a server thread will not serve); objects tied to the parent (open sockets,
database connections) are shared with it, so scenarios should not rely on them.

Nothing outlives the run: each child is the leader of a process group of its own, so a
child killed for its deadline or the hard cap takes its own subprocesses with it; it dies
with the pytest process (``PR_SET_PDEATHSIG`` on Linux) and keeps a deadline of its own
for where that is not available; signals that end the pytest process (SIGINT, SIGTERM,
SIGHUP) first kill the run's children and remove its captures, then take their course;
and the janitor (``backends/janitor.py``) cleans up after a SIGKILL.

A run's memray capture goes with its work directory, unless the caller asked to keep it
(``keeping_capture``): then the capture of a run that ended well is moved there first, for
memray's flame graph of the run.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from .backends import Body, get_backend, janitor
from .backends.rss import current_rss, measure_rss
from .backends.sites import short_path
from .backends.watchdog import HardCapExceeded, start_watchdog
from .captures import without_machine_paths
from .model import RunRecord, RunRequest, RunStatus
from .units import format_size

_RESULT = "record.json"
_PHASES = ("heap", "rss")
# Signals whose default is to end the pytest process: during a run they end the run first.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_ORPHANED = 75  # the exit status of a child whose parent was gone before it could ask to die with it
CAPTURE_NAME = "capture.bin"  # where backends/memray.py leaves its capture in the run's work directory
_KEEP_CAPTURE: ContextVar[Path | None] = ContextVar("memgate_keep_capture", default=None)


@contextmanager
def keeping_capture(path: Path | None) -> Iterator[None]:
    """Runs inside keep the heap phase's capture at ``path`` (each run replaces the last).

    A context rather than an argument: the session's run function keeps its signature
    (body, request, timeout), which the tests' injected runs share, and runs that have no
    capture (tracemalloc, an injected run) simply leave nothing at ``path``.
    """
    token = _KEEP_CAPTURE.set(path)
    try:
        yield
    finally:
        _KEEP_CAPTURE.reset(token)


def run_isolated(body: Body, request: RunRequest, *, timeout_s: float) -> RunRecord:
    """One measured run of ``body``; never raises for the child's faults.

    A run is two forked children from the same state: one measures the heap under the
    tracker, the other resident memory with no tracker at all (a tracker's own buffers
    would otherwise show as the scenario's RSS). Both take the same warm-up, and they run
    at the same time: each measures only its own process.

    A signal that would end the pytest process (Ctrl-C, a cancelled CI job's SIGTERM)
    kills both children and removes their captures first; then the handler that was in
    place before the run takes it, so pytest ends as it would have without the gate.
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        with _StopSignals() as stop:
            return _run(body, request, timeout_s, stop)
    except _Stopped as stopped:
        signum = stopped.signum
    signal.raise_signal(signum)  # the default ends the process here; Python's SIGINT handler raises
    return _failed(  # the previous handler let the process go on: this run is lost all the same
        RunStatus.CRASHED,
        request,
        0.0,
        f"stopped: the pytest process received {_signal_name(signum)} during the run",
    )


def _run(body: Body, request: RunRequest, timeout_s: float, stop: _StopSignals) -> RunRecord:
    keeper = janitor.current()
    children: list[_Child] = []
    ends: dict[int, _End] = {}
    try:
        for phase in _PHASES:
            with stop.held():  # a signal between fork and bookkeeping would orphan the child
                children.append(_start(body, request, phase, timeout_s, keeper))
        _wait_all(children, ends, timeout_s)
        heap, rss = (_finish(child, ends[child.pid], request, timeout_s) for child in children)
        keep = _KEEP_CAPTURE.get()
        if keep is not None and heap.ok:
            _keep_capture(children[0].workdir / CAPTURE_NAME, keep)
    finally:
        with stop.held():  # a second Ctrl-C must not cut the cleanup short
            for child in children:
                if child.pid not in ends:
                    _kill(child.pid)
                if keeper is not None:
                    keeper.release_group(child.pid)
                shutil.rmtree(child.workdir, ignore_errors=True)
                if keeper is not None:
                    keeper.release_dir(child.workdir)
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


def _keep_capture(capture: Path, keep: Path) -> None:
    """Move the capture out of the work directory before it is removed. A capture that
    cannot be kept (a full disk, a read-only directory) costs its flame graph, not the run:
    the session finds no file at ``keep``."""
    if not capture.is_file():
        return
    try:
        keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(capture), str(keep))  # across file systems too (/tmp to the project)
    except OSError:
        with contextlib.suppress(OSError):
            keep.unlink()


class _Stopped(BaseException):
    """A signal that ends the pytest process arrived during a run: unwind, clean up, re-deliver."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _StopSignals:
    """For the length of one run, the stop signals unwind the run (``_Stopped``) instead.

    Installed only over handlers that would end the process or raise (not over SIG_IGN, nor
    over a handler set from C), only in the main thread (the only one Python delivers
    signals to), and the previous handlers are back in place when the run is over.
    """

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._held = 0
        self._pending: int | None = None

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in _STOP_SIGNALS:
                previous = signal.getsignal(signum)
                if previous is None or previous == signal.SIG_IGN:
                    continue
                signal.signal(signum, self._on_signal)
                self._previous[signum] = previous
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._held:
            if self._pending is None:
                self._pending = signum
            return
        raise _Stopped(signum)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Stop signals wait until the block is done, then unwind the run."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held and self._pending is not None:
                signum, self._pending = self._pending, None
                raise _Stopped(signum)


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


def _start(
    body: Body, request: RunRequest, phase: str, timeout_s: float, keeper: janitor.Janitor | None
) -> _Child:
    workdir = Path(tempfile.mkdtemp(prefix="memgate-run-"))
    if keeper is not None:
        keeper.watch_dir(workdir)
    _prctl()  # resolved here, so that the child only calls it
    parent = os.getpid()
    rss_at_fork = current_rss()
    started = time.perf_counter()
    try:
        pid = os.fork()
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        if keeper is not None:
            keeper.release_dir(workdir)
        raise
    if pid == 0:  # pragma: no cover - runs in the child, which never returns
        _child_main(body, request, workdir, phase, parent, timeout_s + _child_margin(timeout_s))
    try:  # also done by the child: whichever runs first, the group exists before it is used
        os.setpgid(pid, pid)
    except OSError:
        pass
    if keeper is not None:
        keeper.watch_group(pid)
    return _Child(pid, workdir, started, rss_at_fork, _kill_threshold(request, rss_at_fork))


def _child_margin(timeout_s: float) -> float:
    """How long past the parent's deadline the child's own one fires: it is the backstop for a
    parent that is gone, and must not beat a parent that is merely slow to poll."""
    return max(5.0, 0.1 * timeout_s)


def _wait_all(children: list[_Child], ends: dict[int, _End], timeout_s: float) -> None:
    """Wait for every child, killing those past the deadline or past the hard-cap backstop.

    ``ends`` is filled as children are reaped, so that the caller knows which are left to
    kill when this is interrupted.
    """
    deadline = time.monotonic() + timeout_s
    watched = {}
    for child in children:
        if child.kill_rss is not None:
            import psutil

            watched[child.pid] = psutil.Process(child.pid)
    while len(ends) < len(children):
        for child in children:
            if child.pid in ends:
                continue
            status = _reap_if_ended(child.pid)
            wall_s = time.perf_counter() - child.started
            if status is not None:
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


def _reap_if_ended(pid: int) -> int | None:
    """The child's wait status once it has ended, else None.

    What it left running in its process group is killed before it is reaped: until then its
    pid cannot be reused, so the group cannot be someone else's. Where the system cannot look
    without reaping (no ``waitid``), leftovers of a child that ended by itself are left alone.
    """
    if hasattr(os, "waitid"):
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            return None
        _kill_group(pid)
        return os.waitpid(pid, 0)[1]
    done, status = os.waitpid(pid, os.WNOHANG)
    return status if done else None


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
        if signum == signal.SIGALRM:
            return _failed(
                RunStatus.TIMED_OUT,
                request,
                wall_s,
                f"timed out after {timeout_s:g} s and was stopped by its own deadline",
            )
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
    try:
        record = RunRecord.from_dict(json.loads(result.read_text()))
    except ValueError as exc:  # includes a figure the child could not have measured
        return _failed(RunStatus.CRASHED, request, wall_s, f"wrote an unreadable result ({exc})")
    return replace(record, wall_s=wall_s)


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
    """Kill a child that has not been reaped, with its process group, and reap it."""
    _kill_group(pid)
    try:
        os.kill(pid, signal.SIGKILL)  # in case it never became the leader of its group
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:  # no such group (left already, or never made)
        pass


@functools.lru_cache(maxsize=1)
def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl`` on Linux, None elsewhere or where it cannot be loaded."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def _enter_child(parent: int, deadline_s: float) -> None:  # pragma: no cover - runs in the child
    """Tie a fresh child to its run: nothing of it may outlive the pytest process or the run.

    Stop signals take their default action again (the parent's handlers for the run were
    inherited), the child leads a process group of its own (its subprocesses are killed with
    it), it asks the kernel to SIGKILL it when the parent dies, and then checks that the
    parent has not died already (that would go unnoticed). Its own deadline, past the
    parent's, is SIGALRM's default action: it ends a hanging scenario even where the parent
    was killed and the kernel cannot tell the child.
    """
    for signum in _STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    janitor.close_inherited()
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    prctl = _prctl()
    if prctl is not None:
        import ctypes

        prctl(
            _PR_SET_PDEATHSIG,
            ctypes.c_ulong(signal.SIGKILL),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        )
    if os.getppid() != parent:
        os._exit(_ORPHANED)
    if 0 < deadline_s < 1e8:  # no timer for a deadline that is no deadline (inf, nan)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.setitimer(signal.ITIMER_REAL, deadline_s)


def _failed(status: RunStatus, request: RunRequest, wall_s: float, error: str) -> RunRecord:
    return RunRecord(
        status=status,
        backend=request.backend,
        warmup=request.warmup,
        iterations=request.iterations,
        wall_s=wall_s,
        error=error,
    )


def _raised_text(exc: BaseException, root: str | None) -> str:
    """The exception and its traceback, without this machine's paths: the text lands in
    report files. Each frame's file reads as an allocation site's does (relative to the
    project, the library root or the standard library, else ``<external>/...``), and the
    project's, the interpreter's and the home directory's paths in messages are cut too."""
    tb = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    seen: set[int] = set()
    todo = [tb]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for frame in current.stack:
            frame.filename = short_path(frame.filename, root)
        todo.extend(t for t in (current.__cause__, current.__context__) if t is not None)
        todo.extend(getattr(current, "exceptions", None) or ())  # an ExceptionGroup's members
    summary = "".join(tb.format_exception_only()).strip()
    return without_machine_paths(f"{summary}\n\n{''.join(tb.format())}", root)


def _child_main(
    body: Body, request: RunRequest, workdir: Path, phase: str, parent: int, deadline_s: float
) -> NoReturn:  # pragma: no cover
    """Measure, write one JSON record, and leave without running pytest's teardown."""
    import gc

    code = 0
    try:
        _enter_child(parent, deadline_s)
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
        record = _failed(RunStatus.RAISED, request, 0.0, _raised_text(exc, request.project_root))
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
