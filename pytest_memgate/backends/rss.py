"""Resident memory, measured with no heap tracker in the process."""

from __future__ import annotations

import os
import sys
from array import array
from dataclasses import dataclass

from ..descendants import descendants_rss
from . import Body
from .calls import settle, warm_up


@dataclass(frozen=True, slots=True)
class RssPhase:
    floor_bytes: tuple[int, ...]  # RSS after each call (after gc), relative to the run's start
    peak_bytes: int  # highest RSS during the phase, relative to the run's start


def current_rss() -> int:
    """Resident set size of this process, in bytes (psutil: portable and cheap)."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def measure_rss(body: Body, warmup: int, iterations: int, rss_start: int) -> RssPhase:
    """Resident memory over untracked calls, in a child of its own.

    A heap tracker costs resident memory of its own, which grows with time (memray keeps
    its periodic samples) and stays after it stops, so RSS is measured without one:
    warm-up, then floors after garbage collection, and the kernel's exact high-water mark
    over the measured calls for the peak (where it cannot be reset: the highest floor).
    Both are relative to the RSS when the child started, so warm-up state that stays
    (a filled cache) counts, as it does in production.

    The scenario's subprocesses are its memory too: each floor adds the RSS of those still
    running, and the peak adds the highest of the subprocesses' peaks, whether read at a
    floor or, for those waited for, the kernel's (``RUSAGE_CHILDREN``: the largest one's
    high-water mark, warm-up included). Subprocesses that run at the same time and end
    between two floors count as the largest of them.
    """
    me = os.getpid()
    floors = array("q", bytes(8 * (iterations + 1)))
    warm_up(body, warmup)
    exact_peak = _peak_rss_reset()
    settle()
    running = descendants_rss(me)
    floors[0] = current_rss() + running - rss_start
    subprocess_peak = running
    for i in range(1, iterations + 1):
        body()
        settle()
        running = descendants_rss(me)
        floors[i] = current_rss() + running - rss_start
        subprocess_peak = max(subprocess_peak, running)
    own = _peak_rss() - rss_start if exact_peak else max(floors)
    subprocess_peak = max(subprocess_peak, _waited_peak())
    return RssPhase(tuple(floors), own + subprocess_peak if exact_peak else max(own, subprocess_peak))


def _waited_peak() -> int:
    """The highest RSS of any subprocess this process (a subreaper) waited for, in bytes."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024  # bytes on macOS, else KiB


def _peak_rss_reset() -> bool:
    """Reset the kernel's RSS high-water mark (Linux >= 4.0); False where it cannot be."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _peak_rss() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")
