"""The hard cap: a scenario that runs away is stopped before it exhausts the machine."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from ..descendants import WALK_EVERY, descendants_rss
from ..units import format_size
from .rss import current_rss

_INTERVAL_S = 0.01
# The subprocesses' RSS is read every 5th tick (50 ms on Linux): a walk of the process tree.
_TREE_TICKS = 5 * WALK_EVERY


class HardCapExceeded(BaseException):
    """Raised in the measuring child's main thread when its RSS passes the hard cap.

    A BaseException, so that scenario code catching Exception cannot swallow it.
    """


def start_watchdog(cap_bytes: int, rss_start: int) -> None:
    """Watch the RSS of this process and of what it started (a scenario's subprocesses are
    its memory too); past the cap, interrupt the main thread with HardCapExceeded.

    The interruption arrives at the next bytecode boundary, so the tracker still closes and
    the allocation sites up to that point can be reported. Code stuck inside one huge native
    call is stopped by the parent instead.
    """
    state = {"rss": 0}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise HardCapExceeded(
            f"exceeded hard cap at {format_size(state['rss'])} of RSS growth (cap {format_size(cap_bytes)})"
        )

    def watch() -> None:
        read_rss = _rss_reader()
        me = os.getpid()
        tick = 0
        subprocesses = 0
        while True:
            if tick % _TREE_TICKS == 0:
                subprocesses = descendants_rss(me)
            tick += 1
            rss = read_rss() + subprocesses - rss_start
            if rss > cap_bytes:
                state["rss"] = rss
                os.kill(os.getpid(), signal.SIGUSR1)
                return
            time.sleep(_INTERVAL_S)

    signal.signal(signal.SIGUSR1, on_signal)
    threading.Thread(target=watch, name="memgate-hard-cap", daemon=True).start()


def _rss_reader() -> Callable[[], int]:
    """The cheapest RSS reading this system has: /proc's statm on Linux, psutil elsewhere."""
    if not os.path.exists("/proc/self/statm"):
        return current_rss
    page = os.sysconf("SC_PAGE_SIZE")
    statm = open("/proc/self/statm", "rb", buffering=0)  # open for the thread's whole life

    def read_rss() -> int:
        statm.seek(0)
        return int(statm.read().split()[1]) * page

    return read_rss
