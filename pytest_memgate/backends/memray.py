"""memray: heap including native allocations, periodic RSS, and allocation sites.

The capture uses memray's aggregated format, which keeps files small no matter how many
allocations a scenario makes and still yields the high-watermark records, the records
alive at the end, and periodic memory snapshots (heap and RSS).

memray has no live "current heap" query, so the floor after each call is read from its
snapshots: after each call the child collects garbage and then idles for a few sampling
intervals; the snapshots taken inside that quiet window show the floor. The cost is
``_PAUSE_S`` per call, small against production-sized calls.

The capture is left in the run's work directory (``captures.CAPTURE_NAME``), where the
runner removes it or keeps it for a flame graph. memray writes the command line into it,
and its flame graph shows it: the tracker starts under a neutral ``sys.argv``, so that no
path or argument of the pytest command reaches a report.
"""

from __future__ import annotations

import math
import sys
import time
from array import array
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import memray
from memray import FileFormat, FileReader

from ..model import FLOOR_UNREADABLE, AllocSite, FloorUnreadable, RunRecord, RunRequest, RunStatus
from . import Body
from .calls import settle, warm_up
from .counters import malloc_in_use
from .sites import downsample, make_sites
from .watchdog import HardCapExceeded

_INTERVAL_MS = 1
_PAUSE_S = 0.003
_CHEAP_INTERVAL_MS = 100  # a cheap run reads no floor from memray's snapshots


CAPTURE_NAME = "capture.bin"  # captures.CAPTURE_NAME (not imported: the child only loads this)
_ARGV = ["pytest-memgate"]  # the command line memray records


class MemrayBackend:
    name = "memray"

    def measure(self, body: Body, request: RunRequest, workdir: Path) -> RunRecord:
        if request.traced_calls > 0:
            return measure_cheap(body, request, workdir)
        capture = workdir / CAPTURE_NAME
        n = request.iterations
        # Preallocated so the gate's own bookkeeping does not show up as growth.
        window_start = array("d", bytes(8 * (n + 1)))
        window_end = array("d", bytes(8 * (n + 1)))
        blocks = array("q", bytes(8 * (n + 1)))
        sleep, clock, collect, count = time.sleep, time.time, settle, sys.getallocatedblocks
        completed = 0
        stopped: HardCapExceeded | None = None
        settle()
        # Tracking starts before the warm-up: whatever warm-up allocates and a measured
        # call later frees (a full cache evicting) must be known to the tracker, or every
        # such eviction would read as growth.
        tracker = _tracker(capture, request, _INTERVAL_MS)
        with tracker:
            try:
                warm_up(body, request.warmup)
                started = time.perf_counter()
                collect()
                blocks[0] = count()
                window_start[0] = clock() * 1000
                sleep(_PAUSE_S)
                window_end[0] = clock() * 1000
                for i in range(1, n + 1):
                    body()
                    collect()
                    blocks[i] = count()
                    window_start[i] = clock() * 1000
                    sleep(_PAUSE_S)
                    window_end[i] = clock() * 1000
                    completed = i
            except HardCapExceeded as exc:
                stopped = exc
        if stopped is not None and completed == 0 and window_start[0] == 0:
            raise stopped  # still warming up: no floor to report
        measured_s = time.perf_counter() - started - (completed + 1) * _PAUSE_S
        record = _read_capture(
            capture,
            request,
            list(window_start[: completed + 1]),
            list(window_end[: completed + 1]),
            measured_s,
            complete=stopped is None,  # a stopped run is an error already, with its sites
        )
        record = replace(record, blocks_floor=tuple(blocks[: completed + 1]))
        if stopped is None:
            return record
        return replace(
            record,
            status=RunStatus.HARD_CAP,
            error=f"{stopped} after {completed} of {n} measured calls",
        )


def _read_capture(
    capture: Path,
    request: RunRequest,
    window_start: list[float],
    window_end: list[float],
    measured_s: float,
    *,
    complete: bool = True,
) -> RunRecord:
    """The run's record from its capture; a complete run whose floor readings cannot tell
    its growth (``floor_problem``) raises instead: it is an error, never a flat floor."""
    reader = FileReader(str(capture))
    try:
        snapshots = list(reader.get_memory_snapshots())
        if not snapshots:
            raise RuntimeError("memray recorded no memory snapshots; the run was too short")
        times = [s.time for s in snapshots]
        heap_floor: list[int] = []
        readings: list[int] = []  # the windows that held a reading of their own
        cursor = 0
        for window, (begin, end) in enumerate(zip(window_start, window_end)):
            # Snapshot times are whole milliseconds: only stamps strictly inside the window
            # are certainly quiet (a 3 ms window holds two or three of them at 1 ms).
            first, last = math.ceil(begin), math.floor(end)
            while cursor < len(times) and times[cursor] < first:
                cursor += 1
            inside = []
            j = cursor
            while j < len(times) and times[j] <= last:
                inside.append(snapshots[j].heap)
                j += 1
            if inside:
                heap_floor.append(min(inside))
                readings.append(window)
            elif heap_floor:  # the sampler was late: no reading, so no new information
                heap_floor.append(heap_floor[-1])
            else:  # nothing yet: the last sample before the window is the nearest quiet one
                heap_floor.append(snapshots[max(cursor - 1, 0)].heap)
        # The timeline is for charts: heap, and RSS as the tracker saw it (its own buffers
        # included, which is why the gated RSS figures come from an untracked phase).
        t0, rss0 = times[0], snapshots[0].rss
        timeline = downsample(
            [((s.time - t0) / 1000, int(s.heap), int(s.rss - rss0)) for s in snapshots],
            request.timeline_points,
        )
        peak_sites = _sites(reader.get_high_watermark_allocation_records(merge_threads=True), request)
        retained_sites = _sites(reader.get_leaked_allocation_records(merge_threads=True), request)
        peak_heap = int(reader.metadata.peak_memory)
    finally:
        reader.close()
    kept = sum(site.size_bytes for site in retained_sites)
    problem = floor_problem(readings, len(window_start), heap_floor[-1], kept) if complete else None
    if problem is not None:
        raise FloorUnreadable(f"{FLOOR_UNREADABLE}: {problem}")
    return RunRecord(
        status=RunStatus.OK,
        backend="memray",
        warmup=request.warmup,
        iterations=request.iterations,
        peak_heap_bytes=peak_heap,
        heap_floor_bytes=tuple(int(v) for v in heap_floor),
        timeline=timeline,
        peak_sites=peak_sites,
        retained_sites=retained_sites,
        measured_s=max(measured_s, 0.0),
    )


def _tracker(capture: Path, request: RunRequest, interval_ms: int) -> memray.Tracker:
    """memray's tracker, made under a neutral ``sys.argv`` (see the module docstring)."""
    argv, sys.argv = sys.argv, list(_ARGV)
    try:
        return memray.Tracker(
            str(capture),
            memory_interval_ms=interval_ms,
            file_format=FileFormat.AGGREGATED_ALLOCATIONS,
            native_traces=request.native_traces,
            trace_python_allocators=request.trace_python_allocators,
        )
    finally:
        sys.argv = argv  # the scenario sees its own


def _sites(records: Iterable[object], request: RunRequest) -> tuple[AllocSite, ...]:
    return make_sites(
        [(_stack(r, request.native_traces), r.size, r.n_allocations) for r in records],  # type: ignore[attr-defined]
        root=request.project_root,
        limit=request.top_sites,
    )


# A slope needs floor readings across the measured calls: a window without a reading repeats
# the last one, so with readings in only a few windows, or only in the first calls, the
# floor reads flat whatever the heap did. One snapshot in a whole run (a starved sampler at
# load 5-7) once passed a 378 KB leak as flat, growth 0 +- 0.
MIN_READINGS = 3
# Memory the run kept to its end is on the heap at its end, where the last floor reading
# was taken (after a collection, with nothing allocated since): sites that hold clearly more
# than that reading prove the readings missed it. Real runs agree to a few hundred bytes.
KEPT_SLACK_BYTES = 64 * 1024
KEPT_SLACK_SHARE = 0.1


def floor_problem(readings: list[int], windows: int, last_floor: int, kept: int) -> str | None:
    """Why a run's floor readings cannot be trusted as its growth, or ``None``.
    ``readings`` are the indices of the quiet windows (of ``windows``) that held a reading;
    ``kept`` is what its retained sites hold at its end."""
    from ..units import format_size

    calls = windows - 1
    if len(readings) < MIN_READINGS:
        return (
            f"memray took floor readings in {len(readings)} of the {windows} quiet windows, too few "
            f"to fit a slope (at least {MIN_READINGS} are needed; its sampler was starved, e.g. by a "
            "busy machine)"
        )
    if readings[-1] - readings[0] < calls / 4:
        return (
            f"its readings span only calls {readings[0]} to {readings[-1]} of {calls}, too few to "
            "fit a slope over the calls (its sampler was starved, e.g. by a busy machine)"
        )
    if kept > max(last_floor, 0) * (1 + KEPT_SLACK_SHARE) + KEPT_SLACK_BYTES:
        return (
            f"its retained allocations kept {format_size(kept)} to its end, but its last floor "
            f"reading shows {format_size(last_floor)}: the readings missed memory the run kept"
        )
    return None


def _stack(record: object, native: bool) -> list[tuple[str, str, int]]:
    try:
        if native:
            return list(record.hybrid_stack_trace(max_stacks=40))  # type: ignore[attr-defined]
        return list(record.stack_trace(max_stacks=40))  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a record without a resolvable stack still counts
        return []


def measure_cheap(body: Body, request: RunRequest, workdir: Path) -> RunRecord:
    """A cheap run, the first look: memray traces the first ``traced_calls`` measured calls
    only, for the peak one call reaches (every allocation of it, as in a traced run); the
    other measured calls run untracked, and their floors come from counters
    (``counters.py``): ``malloc``'s bytes in use and pymalloc's blocks, read after each
    call's collection. Tracing a few calls instead of all of them is what makes the run
    cost about what the plain calls cost.

    Its figures are compared only with the baseline's cheap runs: the peak is over the
    traced calls, above the level where tracking began (after the warm-up), and the heap
    floor counts ``malloc``'s bytes, not the tracker's."""
    in_use = malloc_in_use()
    if in_use is None:
        raise RuntimeError("a cheap run needs glibc's mallinfo2, which this system does not have")
    capture = workdir / CAPTURE_NAME
    n = request.iterations
    traced = min(request.traced_calls, n)
    untracked = n - traced
    floor = array("q", bytes(8 * (untracked + 1)))  # preallocated: no growth of the gate's own
    blocks = array("q", bytes(8 * (untracked + 1)))
    count, collect = sys.getallocatedblocks, settle
    completed = 0
    started = time.perf_counter()
    settle()
    warm_up(body, request.warmup)
    tracker = _tracker(capture, request, _CHEAP_INTERVAL_MS)
    stopped: HardCapExceeded | None = None
    try:
        with tracker:
            for _ in range(traced):
                body()
                collect()
                completed += 1
        started = time.perf_counter()
        collect()
        floor[0], blocks[0] = in_use(), count()
        for i in range(1, untracked + 1):
            body()
            collect()
            floor[i], blocks[i] = in_use(), count()
            completed += 1
    except HardCapExceeded as exc:
        stopped = exc
    measured_s = time.perf_counter() - started
    read = max(completed - traced, 0) + 1
    heap_floor = tuple(int(v - floor[0]) for v in floor[:read])
    reader = FileReader(str(capture))
    try:
        peak_sites = _sites(reader.get_high_watermark_allocation_records(merge_threads=True), request)
        # The peak is at least the highest floor after it, whichever instrument saw that.
        peak_heap = max(int(reader.metadata.peak_memory), *heap_floor)
    finally:
        reader.close()
    record = RunRecord(
        status=RunStatus.OK,
        backend="memray",
        warmup=request.warmup,
        iterations=request.iterations,
        peak_heap_bytes=peak_heap,
        heap_floor_bytes=heap_floor,
        blocks_floor=tuple(blocks[:read]),
        peak_sites=peak_sites,
        measured_s=max(measured_s, 0.0),
    )
    if stopped is None:
        return record
    return replace(
        record, status=RunStatus.HARD_CAP, error=f"{stopped} after {completed} of {n} measured calls"
    )
