"""Isolated runs: fork after fixture setup, measure in the child, map its end to a record.

Why fork: the scenario's fixtures are already built in the pytest process, and a forked
child gets them as they are, with nothing to serialise. Each run starts from the same
state, cannot leave memory behind in pytest, and can crash or be OOM-killed alone.
Limits: POSIX only; threads of the parent do not exist in the child (a fixture that
started a server thread will not serve); objects tied to the parent (open sockets,
database connections) are shared with it, so scenarios should not rely on them.

Nothing outlives the run: each child is the leader of a process group of its own and a
subreaper, so a child killed for its deadline or the hard cap takes its own subprocesses
with it, also those that left its group (``descendants.py``); it dies
with the pytest process (``PR_SET_PDEATHSIG`` on Linux) and keeps a deadline of its own
for where that is not available; signals that end the pytest process (SIGINT, SIGTERM,
SIGHUP) first kill the run's children and remove its captures, then take their course;
and the janitor (``backends/janitor.py``) cleans up after a SIGKILL. What runs in the
child is ``child.py``; holding signals off and killing process groups is ``processes.py``.

A run's memray capture goes with its work directory, unless the caller asked to keep it
(``keeping_capture``): then the capture of a run that ended well is moved there first, for
memray's flame graph of the run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .backends import Body, janitor
from .backends.rss import current_rss
from .captures import CAPTURE_NAME, capture_to_keep, keep_capture
from .child import RESULT_NAME, child_main, failed_record
from .descendants import WALK_EVERY, descendants_rss, libc_prctl
from .model import FLOOR_UNREADABLE, RunRecord, RunRequest, RunStatus
from .processes import Adopted, Stopped, StopSignals, kill, reap_if_ended
from .units import format_size

_PHASES = ("heap", "rss")


def run_isolated(body: Body, request: RunRequest, *, timeout_s: float, jobs: int = 2) -> RunRecord:
    """One measured run of ``body``; never raises for the child's faults (see ``run_isolated_many``)."""
    return run_isolated_many(body, request, timeout_s=timeout_s, runs=1, jobs=jobs)[0]


def run_isolated_many(
    body: Body,
    request: RunRequest,
    *,
    timeout_s: float,
    runs: int,
    jobs: int = 2,
) -> list[RunRecord]:
    """``runs`` independent measured runs of ``body``, with at most ``jobs`` children at once.

    A run is two forked children from the same state: one measures the heap under the
    tracker, the other resident memory with no tracker at all (a tracker's own buffers
    would otherwise show as the scenario's RSS). Each measures only its own process, so
    they may run at the same time, and so may the children of independent runs. At most
    ``jobs // 2`` heap children measure at once (each has memray's sampler thread, which
    must run within the quiet window after every call, or the floor reading is lost:
    two heap children on two cores made heap floors noisy enough to cost runs); the
    untracked RSS children fill the cores they leave. Two jobs is one run's two children
    at once, as one run at a time always was.

    The records come in run order and stop at the first run that failed: the runs after it
    are not started, or killed, since the caller stops there (``schedule.run_until_settled``).

    A signal that would end the pytest process (Ctrl-C, a cancelled CI job's SIGTERM)
    kills every child and removes their captures first; then the handler that was in
    place before the runs takes it, so pytest ends as it would have without the gate.
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        with StopSignals() as stop:
            return _run(body, request, timeout_s, stop, max(1, runs), max(1, jobs))
    except Stopped as stopped:
        signum = stopped.signum
    signal.raise_signal(signum)  # the default ends the process here; Python's SIGINT handler raises
    return [
        failed_record(  # the previous handler let the process go on: this run is lost all the same
            RunStatus.CRASHED,
            request,
            0.0,
            f"stopped: the pytest process received {_signal_name(signum)} during the run",
        )
    ]


def _run(
    body: Body,
    request: RunRequest,
    timeout_s: float,
    stop: StopSignals,
    runs: int,
    jobs: int,
) -> list[RunRecord]:
    keeper = janitor.current()
    queue = [(number, phase) for phase in _PHASES for number in range(runs)]  # heap children first
    running: dict[int, tuple[_Child, int, str]] = {}  # pid -> (child, run number, phase)
    ends: dict[int, _End] = {}
    done: dict[tuple[int, str], RunRecord] = {}
    last = runs  # runs from here on are not needed: an earlier one failed
    keep = capture_to_keep()
    kept = -1
    adopted = Adopted()
    retried: set[int] = set()  # runs whose heap child was measured again (``FLOOR_UNREADABLE``)
    try:
        while queue or running:
            while len(running) < jobs:
                heaps = sum(phase == "heap" for _, _, phase in running.values())
                ready = [item for item in queue if item[1] == "rss" or heaps < max(1, jobs // 2)]
                if not ready:
                    break
                queue.remove(ready[0])
                number, phase = ready[0]
                with stop.held():  # a signal between fork and bookkeeping would orphan the child
                    child = _start(body, request, phase, timeout_s, keeper)
                    running[child.pid] = (child, number, phase)
            for pid in _wait_any([entry[0] for entry in running.values()], ends, timeout_s):
                if pid not in running:  # a later run's child, cancelled just before
                    continue
                child, number, phase = running.pop(pid)
                record = _finish(child, ends[pid], request, timeout_s)
                if phase == "heap" and number not in retried and _floor_unreadable(record):
                    retried.add(number)  # once: a starved sampler, not the scenario
                    with stop.held():
                        _clean(child, keeper)
                    queue.insert(0, (number, phase))
                    continue
                done[number, phase] = record
                if phase == "heap" and record.ok and keep is not None and number > kept:
                    keep_capture(child.workdir / CAPTURE_NAME, keep)  # the latest run's
                    kept = number
                with stop.held():
                    _clean(child, keeper)
                    adopted.sweep(set(running))
                if not record.ok and number < last:
                    last = number
                    queue = [(n, p) for n, p in queue if n < last]
                    with stop.held():
                        _cancel([c for c, n, _ in running.values() if n > last], running, ends, keeper)
    finally:
        with stop.held():  # a second Ctrl-C must not cut the cleanup short
            _cancel([child for child, _, _ in running.values()], running, ends, keeper)
            adopted.close(set(running))
    return [_combine(done[n, "heap"], done.get((n, "rss"))) for n in range(min(last + 1, runs))]


def _floor_unreadable(record: RunRecord) -> bool:
    """A heap run that tells nothing about growth (see ``backends.memray.floor_problem``)."""
    return record.status is RunStatus.RAISED and FLOOR_UNREADABLE in record.error.split("\n", 1)[0]


def _cancel(
    children: list[_Child],
    running: dict[int, tuple[_Child, int, str]],
    ends: dict[int, _End],
    keeper: janitor.Janitor | None,
) -> None:
    """Kill (and reap) children whose run is no longer needed (an earlier run failed, or the
    runs were interrupted), and remove their work directories."""
    for child in children:
        if child.pid not in ends:
            kill(child.pid)
            ends[child.pid] = _End(None, time.perf_counter() - child.started)
        running.pop(child.pid, None)
        _clean(child, keeper)


def _clean(child: _Child, keeper: janitor.Janitor | None) -> None:
    if keeper is not None:
        keeper.release_group(child.pid)
    shutil.rmtree(child.workdir, ignore_errors=True)
    if keeper is not None:
        keeper.release_dir(child.workdir)


def _combine(heap: RunRecord, rss: RunRecord | None) -> RunRecord:
    """One run's record from its two phases: the heap's figures, the untracked child's RSS."""
    if not heap.ok or rss is None:
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


def _start(
    body: Body, request: RunRequest, phase: str, timeout_s: float, keeper: janitor.Janitor | None
) -> _Child:
    workdir = Path(tempfile.mkdtemp(prefix="memgate-run-"))
    if keeper is not None:
        keeper.watch_dir(workdir)
    libc_prctl()  # resolved here, so that the child only calls it
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
        child_main(body, request, workdir, phase, parent, timeout_s + _child_margin(timeout_s))
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


def _wait_any(children: list[_Child], ends: dict[int, _End], timeout_s: float) -> list[int]:
    """Wait until at least one child has ended, killing those past their deadline or past
    the hard-cap backstop (the child's RSS and its descendants'); the pids that ended.
    ``ends`` is filled as children are reaped, so that the caller knows which are left to
    kill when this is interrupted."""
    watched = {}
    tree_rss: dict[int, int] = {}  # the descendants' RSS, read every _TREE_POLLS polls
    polls = 0
    for child in children:
        if child.kill_rss is not None:
            import psutil

            try:
                watched[child.pid] = psutil.Process(child.pid)
            except Exception:  # noqa: BLE001 - already gone: waitpid will tell
                pass
    while True:
        ended = []
        polls += 1
        for child in children:
            if child.pid in ends:
                continue
            status = reap_if_ended(child.pid)
            wall_s = time.perf_counter() - child.started
            if status is not None:
                ends[child.pid] = _End(status, wall_s)
            elif wall_s > timeout_s:
                kill(child.pid)
                ends[child.pid] = _End(None, wall_s)
            elif child.pid in watched and child.kill_rss is not None:
                try:
                    rss = int(watched[child.pid].memory_info().rss)
                except Exception:  # noqa: BLE001 - the child is exiting; waitpid will tell
                    rss = 0
                if (polls - 1) % _TREE_POLLS == 0:
                    tree_rss[child.pid] = descendants_rss(child.pid)
                rss += tree_rss.get(child.pid, 0)
                if rss > child.kill_rss:
                    kill(child.pid)
                    ends[child.pid] = _End(None, wall_s, rss)
            if child.pid in ends:
                ended.append(child.pid)
        if ended:
            return ended
        time.sleep(0.02 if watched else 0.05)


# The descendants' RSS is read every 5th poll (0.1 s on Linux): a walk of the process tree.
_TREE_POLLS = 5 * WALK_EVERY


def _finish(child: _Child, end: _End, request: RunRequest, timeout_s: float) -> RunRecord:
    """Map how the child ended (its exit status, its result file) to a record."""
    wall_s = end.wall_s
    if end.capped_at is not None:
        return failed_record(
            RunStatus.HARD_CAP,
            request,
            wall_s,
            f"exceeded hard cap at {format_size(end.capped_at - child.rss_at_fork)} of RSS growth "
            f"(cap {format_size(request.hard_cap_bytes or 0)}) and was killed before it yielded; "
            "no allocation sites could be read",
        )
    status = end.status
    if status is None:
        return failed_record(
            RunStatus.TIMED_OUT, request, wall_s, f"timed out after {timeout_s:g} s and was killed"
        )
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        if signum == signal.SIGALRM:
            return failed_record(
                RunStatus.TIMED_OUT,
                request,
                wall_s,
                f"timed out after {timeout_s:g} s and was stopped by its own deadline",
            )
        if signum == signal.SIGKILL:
            return failed_record(
                RunStatus.KILLED,
                request,
                wall_s,
                "killed by SIGKILL (the kernel's OOM killer ends processes this way when memory runs out)",
            )
        return failed_record(
            RunStatus.CRASHED, request, wall_s, f"crashed with signal {_signal_name(signum)}"
        )
    result = child.workdir / RESULT_NAME
    if not result.is_file():
        return failed_record(
            RunStatus.CRASHED,
            request,
            wall_s,
            f"exited with status {os.WEXITSTATUS(status)} without writing its result "
            "(os._exit or sys.exit in the scenario?)",
        )
    try:
        record = RunRecord.from_dict(json.loads(result.read_text()))
    except ValueError as exc:  # includes a figure the child could not have measured
        return failed_record(RunStatus.CRASHED, request, wall_s, f"wrote an unreadable result ({exc})")
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
