"""What a killed pytest process leaves behind is removed by a small process that outlives it.

SIGKILL (what a cancelled CI job ends with) cannot be handled: the pytest process just
vanishes. Its measuring children die with it (``PR_SET_PDEATHSIG``), but their own
subprocesses would be orphaned and the runs' capture directories left in the temp dir.
So each pytest process that measures starts one janitor: this file, run as a script by a
bare interpreter (``-I -S``: the standard library only) in a session of its own (a signal
to pytest's process group does not reach it). It is told over a pipe which process groups
and directories the runs in flight have. When the pipe closes, however the pytest process
ended, it kills the groups and removes the directories that were not released, then exits.
A pytest process that ends normally has released everything, and its janitor exits at once.

A scenario's subprocess that left its process group (``start_new_session=True``, a double
fork with ``setsid``) is not in any group the janitor knows, and once the measuring child
is gone it belongs to init. The measuring child puts the janitor's mark in its environment
(``MARK_VARIABLE``), which its subprocesses inherit; on Linux the janitor kills every
process whose environment holds the mark. One started with an environment of its own
(``env=...``) does not carry it: that one survives a SIGKILL of pytest.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_WAKE_S = 2.0  # how often the janitor looks whether its parent is still there
MARK_VARIABLE = "MEMGATE_RUN"  # in a measuring child's environment: the janitor's mark


def _kill_marked(entry: bytes) -> None:  # pragma: no cover - runs in the janitor process
    """SIGKILL every process whose environment holds ``entry``, until none is left (one that
    forks while it is being killed passes the mark on to a child the next round finds)."""
    import signal
    import time

    me = os.getpid()
    for _ in range(50):
        found = 0
        try:
            pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
        except OSError:  # no /proc
            return
        for pid in pids:
            if pid == me:
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as handle:
                    marked = entry in handle.read().split(b"\0")
            except OSError:  # gone, or not ours to read
                continue
            if marked:
                found += 1
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if not found:
            return
        time.sleep(0.02)


def _main(parent: int, mark: str) -> None:  # pragma: no cover - runs in the janitor process
    """Read the runs' messages until the pipe closes, then clean up what was not released.

    Signals that would end pytest are ignored: the janitor outlives a cancelled job by
    design, and ends when its work is done.
    """
    import select
    import shutil
    import signal
    import time

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    groups: set[int] = set()
    dirs: set[bytes] = set()
    pending = b""
    while True:
        if not select.select([0], [], [], _WAKE_S)[0]:
            if os.getppid() != parent:  # a fork of pytest still holds the pipe: the parent is gone
                break
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            op, _, arg = line.partition(b" ")
            if op in (b"+g", b"-g"):
                (groups.add if op == b"+g" else groups.discard)(int(arg))
            elif op in (b"+d", b"-d"):
                (dirs.add if op == b"+d" else dirs.discard)(bytes.fromhex(arg.decode()))
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass
    for _ in range(50):  # a process being killed may still be finishing a write
        for path in list(dirs):
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.lexists(path):
                dirs.discard(path)
        if not dirs:
            break
        time.sleep(0.1)
    if groups:  # runs were in flight: what their scenarios started may have left the groups
        _kill_marked(f"{MARK_VARIABLE}={mark}".encode())


class Janitor:
    """The pytest process's end of the pipe. Messages are single short lines, written
    without blocking: a janitor that is gone or stuck costs the cleanup, never a hang."""

    def __init__(self, pid: int, fd: int, mark: str = "") -> None:
        self.pid = pid
        self.mark = mark  # what the runs' processes carry in their environment
        self.owner = os.getpid()
        self._fd: int | None = fd
        self._reaped = False

    def watch_group(self, pgid: int) -> None:
        self._send(f"+g {pgid}")

    def release_group(self, pgid: int) -> None:
        self._send(f"-g {pgid}")

    def watch_dir(self, path: Path) -> None:
        self._send(f"+d {os.fsencode(path).hex()}")

    def release_dir(self, path: Path) -> None:
        self._send(f"-d {os.fsencode(path).hex()}")

    def alive(self) -> bool:
        if self._fd is None or self._reaped:
            return False
        try:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else's wait; a broken pipe will tell
            return True
        self._reaped = done != 0
        return not self._reaped

    def close_inherited(self) -> None:
        """In a forked child: let go of the pipe, so that only the pytest process holds it."""
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def _send(self, line: str) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, line.encode() + b"\n")
        except BlockingIOError:
            pass  # the janitor is not reading: lose this message rather than wait
        except OSError:  # it is gone
            self.close_inherited()


_current: Janitor | None = None
_STARTS = 3  # janitors one process may start: one that cannot run must not cost every run a spawn
_started: dict[int, int] = {}  # by process id, since a fork inherits the count


def current() -> Janitor | None:
    """This process's janitor, started on first use (again after a fork, or if it died);
    None where none can be started, and the runs go on without one."""
    global _current
    if _current is not None:
        if _current.owner == os.getpid() and _current.alive():
            return _current
        _current.close_inherited()  # a dead janitor's pipe, or the one a fork inherited
        _current = None
    pid = os.getpid()
    if _started.get(pid, 0) >= _STARTS:
        return None
    _started[pid] = _started.get(pid, 0) + 1
    _current = _spawn()
    return _current


def run_mark() -> str | None:
    """The mark a measuring child puts in its environment (``MARK_VARIABLE``); None without a
    janitor."""
    return _current.mark if _current is not None and _current.mark else None


def close_inherited() -> None:
    """In a measuring child, right after the fork."""
    if _current is not None:
        _current.close_inherited()


def _spawn() -> Janitor | None:
    if not sys.executable or not hasattr(os, "posix_spawn"):
        return None
    read_end, write_end = os.pipe()  # neither is inherited across exec but as dup2'd below
    actions = [
        (os.POSIX_SPAWN_DUP2, read_end, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    # This very file as a script: -I keeps its directory (and its sibling ``tracemalloc.py``)
    # off sys.path, -S keeps site-packages out; it needs nothing but the standard library.
    mark = f"{os.getpid()}-{os.urandom(8).hex()}"
    argv = [sys.executable, "-I", "-S", os.path.abspath(__file__), str(os.getpid()), mark]
    try:
        try:
            pid = os.posix_spawn(sys.executable, argv, os.environ, file_actions=actions, setsid=True)
        except NotImplementedError:  # no POSIX_SPAWN_SETSID: a process group of its own will do
            pid = os.posix_spawn(sys.executable, argv, os.environ, file_actions=actions, setpgroup=0)
    except OSError:
        os.close(write_end)
        return None
    finally:
        os.close(read_end)
    os.set_blocking(write_end, False)
    return Janitor(pid, write_end, mark)


if __name__ == "__main__":  # pragma: no cover - the janitor process
    _main(int(sys.argv[1]), sys.argv[2])
