"""What runs in a forked child: tie it to its run, measure one phase, write one record.

The child never returns into pytest: it writes its record as JSON into the run's work
directory and leaves with ``os._exit``, so that no teardown of the pytest process runs in
it. The parent (``runner.py``) reads the record, or maps how the child ended to one.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import NoReturn

from .backends import Body, get_backend, janitor
from .backends.rss import current_rss, measure_rss
from .backends.sites import short_path
from .backends.watchdog import HardCapExceeded, start_watchdog
from .captures import without_machine_paths
from .descendants import libc_prctl, reap_children, set_subreaper
from .model import FloorUnreadable, RunRecord, RunRequest, RunStatus

RESULT_NAME = "record.json"  # the child's record, in the run's work directory
# Signals whose default is to end the pytest process: during a run they end the run first.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_ORPHANED = 75  # the exit status of a child whose parent was gone before it could ask to die with it


def _enter_child(parent: int, deadline_s: float) -> None:  # pragma: no cover - runs in the child
    """Tie a fresh child to its run: nothing of it may outlive the pytest process or the run.

    Stop signals take their default action again (the parent's handlers for the run were
    inherited), the child leads a process group of its own (its subprocesses are killed with
    it), it asks the kernel to SIGKILL it when the parent dies, and then checks that the
    parent has not died already (that would go unnoticed). Its own deadline, past the
    parent's, is SIGALRM's default action: it ends a hanging scenario even where the parent
    was killed and the kernel cannot tell the child. It is a subreaper: what the scenario
    starts stays in its process tree even after leaving its group and session
    (``descendants.py``), and carries the janitor's mark in its environment.
    """
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    mark = janitor.run_mark()
    janitor.close_inherited()
    if mark is not None:
        os.environ[janitor.MARK_VARIABLE] = mark
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    set_subreaper(True)
    prctl = libc_prctl()
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


def failed_record(status: RunStatus, request: RunRequest, wall_s: float, error: str) -> RunRecord:
    """A run that ended without figures, and how (the child's own fault or the parent's finding)."""
    return RunRecord(
        status=status,
        backend=request.backend,
        warmup=request.warmup,
        iterations=request.iterations,
        wall_s=wall_s,
        error=error,
    )


def raised_text(exc: BaseException, root: str | None) -> str:
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


def child_main(
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
        record = failed_record(
            RunStatus.HARD_CAP, request, 0.0, f"{exc}; stopped before any sites were tracked"
        )
    except FloorUnreadable as exc:  # the gate's own finding, not the scenario's: no traceback
        record = failed_record(RunStatus.RAISED, request, 0.0, str(exc))
        code = 3
    except BaseException as exc:  # noqa: BLE001 - the child reports everything and exits
        record = failed_record(RunStatus.RAISED, request, 0.0, raised_text(exc, request.project_root))
        code = 3
    try:
        tmp = workdir / (RESULT_NAME + ".tmp")
        tmp.write_text(json.dumps(record.to_dict()))
        os.replace(tmp, workdir / RESULT_NAME)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        try:
            reap_children()  # nothing the scenario started outlives its run
        finally:
            os._exit(code)
