"""tracemalloc + psutil: the fallback where memray cannot run.

It sees only allocations made through Python's allocators (no native memory), so RSS
carries the native signal here. Its figures are not comparable with memray's: baselines
record the backend and only like is compared with like.
"""

from __future__ import annotations

import time
import tracemalloc
from array import array
from dataclasses import replace
from pathlib import Path

from ..model import RunRecord, RunRequest, RunStatus
from . import Body, HardCapExceeded, downsample, make_sites, settle, warm_up

_FRAMES = 8


class TracemallocBackend:
    name = "tracemalloc"

    def measure(self, body: Body, request: RunRequest, workdir: Path, rss_start: int) -> RunRecord:
        n = request.iterations
        heap = array("q", bytes(8 * (n + 1)))
        stamps = array("d", bytes(8 * (n + 1)))
        completed = -1
        stopped: HardCapExceeded | None = None
        settle()
        tracemalloc.start(_FRAMES)  # before the warm-up, as with memray: evictions must be known
        try:
            base = tracemalloc.get_traced_memory()[0]
            before = tracemalloc.take_snapshot()
            try:
                warm_up(body, request.warmup)
                started = time.perf_counter()
                for i in range(n + 1):
                    if i:
                        body()
                    settle()
                    heap[i] = tracemalloc.get_traced_memory()[0] - base
                    stamps[i] = time.perf_counter() - started
                    completed = i
            except HardCapExceeded as exc:
                stopped = exc
            if completed < 0 and stopped is not None:
                raise stopped
            measured_s = time.perf_counter() - started
            peak_heap = tracemalloc.get_traced_memory()[1] - base
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        # Innermost frame first, as memray gives them; tracemalloc names no functions.
        grown = [
            (
                [("?", frame.filename, frame.lineno) for frame in reversed(stat.traceback)],
                stat.size_diff,
                max(stat.count_diff, 0),
            )
            for stat in after.compare_to(before, "traceback")
            if stat.size_diff > 0
        ]
        floors = heap[: completed + 1]
        record = RunRecord(
            status=RunStatus.OK,
            backend="tracemalloc",
            warmup=request.warmup,
            iterations=n,
            peak_heap_bytes=int(peak_heap),
            heap_floor_bytes=tuple(floors),
            timeline=downsample(
                [(stamps[i], heap[i], 0) for i in range(completed + 1)], request.timeline_points
            ),
            retained_sites=make_sites(grown, limit=request.top_sites),
            measured_s=measured_s,
        )
        if stopped is None:
            return record
        return replace(record, status=RunStatus.HARD_CAP, error=f"{stopped} after {completed} of {n} calls")
