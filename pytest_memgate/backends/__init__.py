"""Measurement backends: one protocol, one selector that says why it chose what it chose."""

from __future__ import annotations

import gc
import os
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import BackendUnavailable
from ..model import AllocSite, RunRecord, RunRequest
from ..units import format_size

Body = Callable[[], object]


class Backend(Protocol):
    name: str

    def measure(self, body: Body, request: RunRequest, workdir: Path, rss_start: int) -> RunRecord:
        """Call ``body`` ``request.iterations`` times under tracking, in this (child) process."""
        ...


@dataclass(frozen=True, slots=True)
class BackendChoice:
    name: str
    reason: str


def memray_unavailable_reason() -> str | None:
    """``None`` when memray can run here, else why not (in words for a summary line)."""
    if not sys.platform.startswith(("linux", "darwin")):
        return f"memray does not support {sys.platform}"
    try:
        import memray  # noqa: F401
    except ImportError as exc:
        return f"memray cannot be imported ({exc})"
    return None


def choose_backend(requested: str) -> BackendChoice:
    """Pick the backend; an explicit request that cannot run is an error, not a fallback."""
    if requested == "tracemalloc":
        return BackendChoice("tracemalloc", "requested with --memgate-backend=tracemalloc")
    problem = memray_unavailable_reason()
    if requested == "memray":
        if problem:
            raise BackendUnavailable(
                f"memgate: --memgate-backend=memray was requested but {problem}; "
                "install memray (Linux or macOS) or use --memgate-backend=tracemalloc"
            )
        return BackendChoice("memray", "requested with --memgate-backend=memray")
    if problem:
        return BackendChoice("tracemalloc", f"fallback: {problem}")
    return BackendChoice("memray", "default")


def get_backend(name: str) -> Backend:
    if name == "memray":
        from .memray import MemrayBackend

        return MemrayBackend()
    if name == "tracemalloc":
        from .tracemalloc import TracemallocBackend

        return TracemallocBackend()
    raise BackendUnavailable(f"memgate: unknown backend {name!r}; use memray or tracemalloc")


def current_rss() -> int:
    """Resident set size of this process, in bytes (psutil: portable and cheap)."""
    import psutil

    return int(psutil.Process().memory_info().rss)


class HardCapExceeded(BaseException):
    """Raised in the measuring child's main thread when its RSS passes the hard cap.

    A BaseException, so that scenario code catching Exception cannot swallow it.
    """


def start_watchdog(cap_bytes: int, rss_start: int, interval_s: float = 0.01) -> None:
    """Watch this process's RSS; past the cap, interrupt the main thread with HardCapExceeded.

    The interruption arrives at the next bytecode boundary, so the tracker still closes and
    the allocation sites up to that point can be reported. Code stuck inside one huge native
    call is stopped by the parent instead.
    """
    import signal
    import threading

    page = os.sysconf("SC_PAGE_SIZE")
    state = {"rss": 0}

    def on_signal(signum: int, frame: object) -> None:
        raise HardCapExceeded(
            f"exceeded hard cap at {format_size(state['rss'])} of RSS growth (cap {format_size(cap_bytes)})"
        )

    def watch() -> None:
        if os.path.exists("/proc/self/statm"):
            statm = open("/proc/self/statm", "rb", buffering=0)

            def read_rss() -> int:
                statm.seek(0)
                return int(statm.read().split()[1]) * page
        else:
            read_rss = current_rss
        while True:
            rss = read_rss() - rss_start
            if rss > cap_bytes:
                state["rss"] = rss
                os.kill(os.getpid(), signal.SIGUSR1)
                return
            time.sleep(interval_s)

    signal.signal(signal.SIGUSR1, on_signal)
    threading.Thread(target=watch, name="memgate-hard-cap", daemon=True).start()


@dataclass(frozen=True, slots=True)
class RssPhase:
    floor_bytes: tuple[int, ...]  # RSS after each call (after gc), relative to the run's start
    peak_bytes: int  # highest RSS during the phase, relative to the run's start


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


def measure_rss(body: Body, warmup: int, iterations: int, rss_start: int) -> RssPhase:
    """Resident memory over untracked calls, in a child of its own.

    A heap tracker costs resident memory of its own, which grows with time (memray keeps
    its periodic samples) and stays after it stops, so RSS is measured without one:
    warm-up, then floors after garbage collection, and the kernel's exact high-water mark
    over the measured calls for the peak (where it cannot be reset: the highest floor).
    Both are relative to the RSS when the child started, so warm-up state that stays
    (a filled cache) counts, as it does in production.
    """
    floors = array("q", bytes(8 * (iterations + 1)))
    warm_up(body, warmup)
    exact_peak = _peak_rss_reset()
    settle()
    floors[0] = current_rss() - rss_start
    for i in range(1, iterations + 1):
        body()
        settle()
        floors[i] = current_rss() - rss_start
    peak = _peak_rss() - rss_start if exact_peak else max(floors)
    return RssPhase(tuple(floors), peak)


def settle() -> None:
    """Collect cyclic garbage so that the floor is what really stays alive."""
    gc.collect()


def warm_up(body: Body, calls: int) -> None:
    """Unmeasured calls, each followed by a collection as the measured ones are: cyclic
    garbage piling up across warm-up calls would otherwise set the tracked peak."""
    for _ in range(calls):
        body()
        settle()


# --- allocation sites -------------------------------------------------------------------

_OWN_DIR = str(Path(__file__).resolve().parent.parent)
_LIBRARY_MARKERS = ("site-packages", "dist-packages", os.sep + "lib" + os.sep + "python")


_HARNESS_PARTS = (os.sep + "_pytest" + os.sep, os.sep + "pytest" + os.sep, os.sep + "pluggy" + os.sep)


def _is_own_frame(filename: str) -> bool:
    """Frames of the gate and the test harness: never the culprit a user can fix."""
    return (
        filename.startswith(_OWN_DIR)
        or filename.startswith("<frozen runpy")
        or any(part in filename for part in _HARNESS_PARTS)
    )


def short_path(filename: str) -> str:
    """Paths that read the same on every machine: relative to the project or the library root."""
    for marker in ("site-packages" + os.sep, "dist-packages" + os.sep):
        if marker in filename:
            return filename.split(marker, 1)[1]
    stdlib = os.path.dirname(os.__file__) + os.sep
    if filename.startswith(stdlib):
        return filename[len(stdlib) :]
    root = (_ROOT or os.getcwd()) + os.sep
    if filename.startswith(root):
        return filename[len(root) :]
    return filename


_ROOT: str | None = None


def set_project_root(path: str | None) -> None:
    """Report allocation sites relative to pytest's rootdir, whatever the working directory."""
    global _ROOT
    _ROOT = path.rstrip(os.sep) if path else None


def _is_library_frame(filename: str) -> bool:
    return any(marker in filename for marker in _LIBRARY_MARKERS) or filename.startswith("<")


@dataclass(slots=True)
class _SiteTotal:
    size_bytes: int = 0
    count: int = 0
    biggest: int = -1
    stack: tuple[tuple[str, str, int], ...] = ()


def make_sites(
    raw: Sequence[tuple[Sequence[tuple[str, str, int]], int, int]], *, limit: int, depth: int = 8
) -> tuple[AllocSite, ...]:
    """Group raw ``(stack, bytes, count)`` records by the innermost frame in the user's code.

    An allocation inside ``json.loads`` is reported at the user's line that called it: that
    is the line a reviewer can change. The full (trimmed) stack of the biggest contributor
    is kept beside it.
    """
    grouped: dict[tuple[str, str, int], _SiteTotal] = {}
    for stack, size, count in raw:
        if stack and str(stack[0][1]).startswith(_OWN_DIR):
            continue  # allocated by the gate itself (its bookkeeping, its watchdog thread)
        kept = [(str(f), str(p), int(n)) for f, p, n in stack if not _is_own_frame(str(p))]
        if stack and not kept:
            continue  # the gate's own bookkeeping between calls
        kept = kept or [("<unknown>", "<unknown>", 0)]
        user = next((f for f in kept if not _is_library_frame(f[1])), kept[0])
        frames = [(f, short_path(p), n) for f, p, n in kept[:depth]]
        user = (user[0], short_path(user[1]), user[2])
        total = grouped.setdefault(user, _SiteTotal())
        total.size_bytes += size
        total.count += count
        if size > total.biggest:
            total.biggest, total.stack = size, tuple(frames)
    ranked = sorted(grouped.items(), key=lambda item: -item[1].size_bytes)
    return tuple(
        AllocSite(key[0], key[1], key[2], total.size_bytes, total.count, total.stack)
        for key, total in ranked[:limit]
    )


def downsample(points: Sequence[tuple[float, int, int]], limit: int) -> tuple[tuple[float, int, int], ...]:
    """Keep at most ``limit`` points, each bucket's highest heap, so peaks survive for charts."""
    if len(points) <= limit:
        return tuple(points)
    size = len(points) / limit
    out = []
    for i in range(limit):
        bucket = points[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)]
        out.append(max(bucket, key=lambda p: p[1]))
    return tuple(out)
