"""memray: heap including native allocations, periodic RSS, and allocation sites.

The capture uses memray's aggregated format, which keeps files small no matter how many
allocations a scenario makes and still yields the high-watermark records, the records
alive at the end, and periodic memory snapshots (heap and RSS).

memray has no live "current heap" query, so the floor after each call is read from its
snapshots: after each call the child collects garbage and then idles for a few sampling
intervals; the snapshots taken inside that quiet window show the floor. The cost is
``_PAUSE_S`` per call, small against production-sized calls.
"""

from __future__ import annotations

import time
from array import array
from dataclasses import replace
from pathlib import Path

import memray
from memray import FileFormat, FileReader

from ..model import RunRecord, RunRequest, RunStatus
from . import Body, HardCapExceeded, current_rss, downsample, make_sites, settle

_INTERVAL_MS = 1
_PAUSE_S = 0.004


class MemrayBackend:
    name = "memray"

    def measure(self, body: Body, request: RunRequest, workdir: Path, rss_start: int) -> RunRecord:
        capture = workdir / "capture.bin"
        n = request.iterations
        # Preallocated so the gate's own bookkeeping does not show up as growth.
        window_start = array("d", bytes(8 * (n + 1)))
        window_end = array("d", bytes(8 * (n + 1)))
        sleep, clock, collect = time.sleep, time.time, settle
        settle()
        rss_before_tracker = current_rss()
        started = time.perf_counter()
        completed = n
        stopped: HardCapExceeded | None = None
        with memray.Tracker(
            str(capture),
            memory_interval_ms=_INTERVAL_MS,
            file_format=FileFormat.AGGREGATED_ALLOCATIONS,
            native_traces=request.native_traces,
            trace_python_allocators=request.trace_python_allocators,
        ):
            collect()
            window_start[0] = clock() * 1000
            sleep(_PAUSE_S)
            window_end[0] = clock() * 1000
            try:
                for i in range(1, n + 1):
                    body()
                    collect()
                    window_start[i] = clock() * 1000
                    sleep(_PAUSE_S)
                    window_end[i] = clock() * 1000
            except HardCapExceeded as exc:
                completed, stopped = i - 1, exc
        measured_s = time.perf_counter() - started - (completed + 1) * _PAUSE_S
        record = _read_capture(
            capture,
            request,
            rss_start,
            rss_before_tracker,
            list(window_start[: completed + 1]),
            list(window_end[: completed + 1]),
            measured_s,
        )
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
    rss_start: int,
    rss_before_tracker: int,
    window_start: list[float],
    window_end: list[float],
    measured_s: float,
) -> RunRecord:
    reader = FileReader(str(capture))
    try:
        snapshots = list(reader.get_memory_snapshots())
        if not snapshots:
            raise RuntimeError("memray recorded no memory snapshots; the run was too short")
        times = [s.time for s in snapshots]
        # The tracker's own buffers show in RSS from its first sample on: not the scenario's.
        rss_start += max(snapshots[0].rss - rss_before_tracker, 0)
        heap_floor: list[int] = []
        rss_floor: list[int] = []
        cursor = 0
        for begin, end in zip(window_start, window_end):
            while cursor < len(times) and times[cursor] < int(begin):
                cursor += 1
            inside = []
            j = cursor
            while j < len(times) and times[j] <= end + 1:
                inside.append(snapshots[j])
                j += 1
            if not inside:  # the sampler was late: take the next sample there is
                inside = [snapshots[min(cursor, len(snapshots) - 1)]]
            heap_floor.append(min(s.heap for s in inside))
            rss_floor.append(min(s.rss for s in inside) - rss_start)
        t0 = times[0]
        timeline = downsample(
            [((s.time - t0) / 1000, int(s.heap), int(s.rss - rss_start)) for s in snapshots],
            request.timeline_points,
        )
        peak_rss = max(s.rss for s in snapshots) - rss_start
        peak_sites = make_sites(
            [
                (_stack(r, request.native_traces), r.size, r.n_allocations)
                for r in reader.get_high_watermark_allocation_records(merge_threads=True)
            ],
            limit=request.top_sites,
        )
        retained_sites = make_sites(
            [
                (_stack(r, request.native_traces), r.size, r.n_allocations)
                for r in reader.get_leaked_allocation_records(merge_threads=True)
            ],
            limit=request.top_sites,
        )
        peak_heap = int(reader.metadata.peak_memory)
    finally:
        reader.close()
    return RunRecord(
        status=RunStatus.OK,
        backend="memray",
        warmup=request.warmup,
        iterations=request.iterations,
        peak_heap_bytes=peak_heap,
        peak_rss_bytes=int(peak_rss),
        heap_floor_bytes=tuple(int(v) for v in heap_floor),
        rss_floor_bytes=tuple(int(v) for v in rss_floor),
        timeline=timeline,
        peak_sites=peak_sites,
        retained_sites=retained_sites,
        measured_s=max(measured_s, 0.0),
    )


def _stack(record: object, native: bool) -> list[tuple[str, str, int]]:
    try:
        if native:
            return list(record.hybrid_stack_trace(max_stacks=40))  # type: ignore[attr-defined]
        return list(record.stack_trace(max_stacks=40))  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a record without a resolvable stack still counts
        return []
