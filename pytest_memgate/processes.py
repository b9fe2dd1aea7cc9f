"""The pytest process's side of a run's processes: stop signals held off while a run
is set up and torn down, and killing and reaping a child with its process tree.

Each child leads a process group of its own and is a subreaper (``descendants.py``), so
killing its descendants and its group takes the scenario's subprocesses with it, also those
that left the group; both are killed before the child is reaped, while its pid cannot have
been reused. While runs are in flight the pytest process is a subreaper too (``Adopted``):
the descendants of a child that was killed before it could clean up come to it, and are
killed and reaped.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from .child import STOP_SIGNALS
from .descendants import children, is_subreaper, kill_descendants, set_subreaper


class Stopped(BaseException):
    """A signal that ends the pytest process arrived during a run: unwind, clean up, re-deliver."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class StopSignals:
    """For the length of one run, the stop signals unwind the run (``Stopped``) instead.

    Installed only over handlers that would end the process or raise (not over SIG_IGN, nor
    over a handler set from C), only in the main thread (the only one Python delivers
    signals to), and the previous handlers are back in place when the run is over.
    """

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._held = 0
        self._pending: int | None = None

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
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
        raise Stopped(signum)

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
                raise Stopped(signum)


def reap_if_ended(pid: int) -> int | None:
    """The child's wait status once it has ended, else None.

    What it left running in its process group is killed before it is reaped: until then its
    pid cannot be reused, so the group cannot be someone else's. Where the system cannot look
    without reaping (no ``waitid``), leftovers of a child that ended by itself are left alone.
    """
    if hasattr(os, "waitid"):
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            return None
        kill_descendants(pid)
        kill_group(pid)
        return os.waitpid(pid, 0)[1]
    done, status = os.waitpid(pid, os.WNOHANG)
    return status if done else None


def kill(pid: int) -> None:
    """Kill a child that has not been reaped, with its process tree and group, and reap it.
    The child is stopped first, so that it starts nothing while its tree is being killed."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        pass
    kill_descendants(pid)
    kill_group(pid)
    try:
        os.kill(pid, signal.SIGKILL)  # in case it never became the leader of its group
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:  # no such group (left already, or never made)
        pass


class Adopted:
    """While runs are in flight, this process adopts the orphans of its measuring children.

    A child killed by the OOM killer, its own deadline or the parent leaves its descendants
    behind; as a subreaper, the pytest process becomes their parent rather than init, and
    ``sweep`` kills and reaps every child it did not have before the runs and is not a
    measuring child. A process that a thread of pytest starts during the runs is taken for
    an orphan too. Where this process cannot be a subreaper, ``sweep`` finds nothing new.
    """

    def __init__(self) -> None:
        self._was = is_subreaper()
        self._active = self._was or set_subreaper(True)
        self._before = set(children(os.getpid())) if self._active else set()

    def sweep(self, measuring: set[int]) -> None:
        """Kill and reap the adopted processes (and what they started), not ``measuring``."""
        if not self._active:
            return
        me = os.getpid()
        for _ in range(100):
            adopted = [pid for pid in children(me) if pid not in self._before and pid not in measuring]
            if not adopted:
                return
            for pid in adopted:
                kill_descendants(pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:  # reaped by a wait of someone else's
                    pass

    def close(self, measuring: set[int]) -> None:
        self.sweep(measuring)
        if self._active and not self._was:
            set_subreaper(False)
            self._active = False
