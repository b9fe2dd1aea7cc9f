"""tracemalloc + psutil: the fallback where memray cannot run.

It sees only allocations made through Python's allocators (no native memory), so RSS
carries the native signal here. Its figures are not comparable with memray's: baselines
record the backend and only like is compared with like.
"""

from __future__ import annotations

import time
import tracemalloc
from array import array
from pathlib import Path

import psutil

from ..model import RunRecord, RunRequest, RunStatus
from . import Body, downsample, make_sites, settle

_FRAMES = 16


class TracemallocBackend:
    name = "tracemalloc"

    def measure(self, body: Body, request: RunRequest, workdir: Path, rss_start: int) -> RunRecord:
        n = request.iterations
        heap = array("q", bytes(8 * (n + 1)))
        rss = array("q", bytes(8 * (n + 1)))
        stamps = array("d", bytes(8 * (n + 1)))
        memory_info = psutil.Process().memory_info
        settle()
        tracemalloc.start(_FRAMES)
        try:
            base = tracemalloc.get_traced_memory()[0]
            before = tracemalloc.take_snapshot()
            started = time.perf_counter()
            for i in range(n + 1):
                if i:
                    body()
                settle()
                heap[i] = tracemalloc.get_traced_memory()[0] - base
                rss[i] = memory_info().rss - rss_start
                stamps[i] = time.perf_counter() - started
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
        retained = make_sites(grown, limit=request.top_sites)
        return RunRecord(
            status=RunStatus.OK,
            backend="tracemalloc",
            warmup=request.warmup,
            iterations=n,
            peak_heap_bytes=int(peak_heap),
            peak_rss_bytes=int(max(rss)),
            heap_floor_bytes=tuple(heap),
            rss_floor_bytes=tuple(rss),
            timeline=downsample(
                [(stamps[i], heap[i], rss[i]) for i in range(n + 1)], request.timeline_points
            ),
            retained_sites=retained,
            measured_s=measured_s,
        )
