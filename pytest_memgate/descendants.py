"""A run's process tree: what a scenario started is found, counted and killed, however it left.

A process group does not hold a scenario's subprocesses: one started with
``start_new_session=True``, or a double fork that calls ``setsid``, leaves it, and once its
parent has ended it is re-parented to init. So on Linux the measuring child is a child
subreaper (``PR_SET_CHILD_SUBREAPER``): orphaned descendants are re-parented to it instead,
and its descendants are every process the scenario started that is still there, whatever
group or session they moved to. The pytest process is one too while runs are in flight, so
that the descendants of a child that was killed come to it and not to init.

Where there is no ``prctl`` (macOS, the BSDs) descendants are still found and killed through
their parents, but a subprocess whose parent has ended is lost to init.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import time
from collections.abc import Callable

_PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>
_PR_GET_CHILD_SUBREAPER = 37
_KILL_ROUNDS = 200  # a fork bomb outruns any number of rounds; this bounds the cleanup's time
_REAP_ROUNDS = 200
# Linux with CONFIG_PROC_CHILDREN: a process's children without scanning every process.
_PROC_CHILDREN = os.path.exists(f"/proc/self/task/{os.getpid()}/children")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# How often a sampler may walk the tree, in its own ticks: elsewhere each walk scans every process.
WALK_EVERY = 1 if _PROC_CHILDREN else 10


@functools.lru_cache(maxsize=1)
def libc_prctl() -> Callable[..., int] | None:
    """libc's ``prctl`` on Linux, None elsewhere or where it cannot be loaded."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def set_subreaper(on: bool) -> bool:
    """Make this process the one orphaned descendants are re-parented to (or stop); False where
    the system cannot."""
    prctl = libc_prctl()
    if prctl is None:
        return False
    import ctypes

    zero = ctypes.c_ulong(0)
    return prctl(_PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(int(on)), zero, zero, zero) == 0


def is_subreaper() -> bool:
    prctl = libc_prctl()
    if prctl is None:
        return False
    import ctypes

    flag = ctypes.c_int(0)
    zero = ctypes.c_ulong(0)
    if prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), zero, zero, zero) != 0:
        return False
    return flag.value != 0


def _read(path: str) -> bytes | None:
    """A small /proc file's content; None when it cannot be read. Unbuffered: the walk runs
    in the heap child's watchdog thread, whose allocations memray sees, so it allocates no
    more than the bytes it reads (a buffered file would allocate 8 KiB each time)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        parts = []
        while chunk := os.read(fd, 4096):
            parts.append(chunk)
        return b"".join(parts)
    except OSError:
        return None
    finally:
        os.close(fd)


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (zombies included): /proc's per-thread lists on Linux, which
    read only this process's entries, else psutil's scan of every process."""
    if _PROC_CHILDREN:
        tasks = f"/proc/{pid}/task"
        try:
            threads = os.listdir(tasks)
        except OSError:
            return []  # gone
        found: list[int] = []
        for thread in threads:
            listed = _read(f"{tasks}/{thread}/children")  # None: a thread that just ended
            if listed:
                found += [int(child) for child in listed.split()]
        return found
    try:
        import psutil

        return [child.pid for child in psutil.Process(pid).children()]
    except Exception:  # noqa: BLE001 - gone, or not ours to look at: no children to count
        return []


def descendants(pid: int) -> list[int]:
    """Every descendant of ``pid``, parents before their children."""
    found: list[int] = []
    todo = [pid]
    seen = {pid}
    while todo:
        for child in children(todo.pop()):
            if child not in seen:
                seen.add(child)
                found.append(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie (nor gone): a zombie holds no memory and does nothing."""
    if _PROC_CHILDREN:
        stat = _read(f"/proc/{pid}/stat")
        if stat is None:
            return False
        state = stat.rpartition(b")")[2].split()[:1]
        return state != [b"Z"] and state != [b"X"]
    try:
        import psutil

        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except Exception:  # noqa: BLE001 - gone
        return False


def rss(pid: int) -> int:
    """Resident set size of ``pid`` in bytes; 0 for a process that is gone or a zombie."""
    if _PROC_CHILDREN:
        statm = _read(f"/proc/{pid}/statm")
        try:
            return int(statm.split()[1]) * _PAGE if statm else 0
        except (ValueError, IndexError):
            return 0
    try:
        import psutil

        return int(psutil.Process(pid).memory_info().rss)
    except Exception:  # noqa: BLE001 - gone
        return 0


def descendants_rss(pid: int) -> int:
    """The resident memory of everything ``pid`` started that is still running, summed."""
    return sum(rss(child) for child in descendants(pid))


def kill_descendants(pid: int) -> None:
    """SIGKILL every descendant of ``pid`` until none runs.

    A process that forks while its parent is being killed has a child the next round finds:
    under ``pid`` when it is a subreaper, else under the process that forked. The killed ones
    stay zombies of their parents until reaped (``reap_children``, or whoever adopts them).
    """
    for _ in range(_KILL_ROUNDS):
        running = [child for child in descendants(pid) if _alive(child)]
        if not running:
            return
        for child in running:
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGKILL)


def reap_children() -> None:
    """In a measuring child about to exit: kill its descendants and wait for its children, so
    that they do not become zombies of the process it leaves them to. Bounded: what is left
    after about a second goes to that process."""
    me = os.getpid()
    for _ in range(_REAP_ROUNDS):
        kill_descendants(me)
        try:
            while os.waitpid(-1, os.WNOHANG)[0] != 0:
                pass
        except ChildProcessError:
            return  # no children left
        time.sleep(0.005)  # a killed child takes a moment to become a zombie
