"""tracemalloc + psutil: the fallback where memray cannot run.

It sees only allocations made through Python's allocators (no native memory), so RSS
carries the native signal here. Its figures are not comparable with memray's: baselines
record the backend and only like is compared with like.

It has no peak sites. tracemalloc keeps the size of the peak, not the blocks alive at it,
and a snapshot can only be taken from Python: between calls it shows what stayed (the
retained sites), not what was alive at the peak inside a call. Taken within a call (from
a sampling thread or a profile hook), a snapshot allocates traced memory of its own and so
raises the very peak it is meant to explain, and a hook slows every call. The record says
what it cannot show (``RunRecord.limitations``) instead of showing something else as peak.
"""

from __future__ import annotations

import ast
import linecache
import time
import tracemalloc
from array import array
from dataclasses import replace
from pathlib import Path

from ..model import RunRecord, RunRequest, RunStatus
from . import Body
from .calls import settle, warm_up
from .sites import UNNAMED, downsample, make_sites
from .watchdog import HardCapExceeded

_FRAMES = 8

LIMITATIONS = (
    "tracemalloc cannot show the allocations alive at the heap peak: no peak sites",
    "tracemalloc sees only Python's allocators: native memory shows in RSS alone",
)


class TracemallocBackend:
    name = "tracemalloc"

    def measure(self, body: Body, request: RunRequest, workdir: Path) -> RunRecord:
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
        # Innermost frame first, as memray gives them; the functions are named from source.
        grown = [
            (
                [(UNNAMED, frame.filename, frame.lineno) for frame in reversed(stat.traceback)],
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
            retained_sites=make_sites(
                grown, root=request.project_root, limit=request.top_sites, function_of=FunctionNames()
            ),
            measured_s=measured_s,
            limitations=LIMITATIONS,
        )
        if stopped is None:
            return record
        return replace(record, status=RunStatus.HARD_CAP, error=f"{stopped} after {completed} of {n} calls")


class FunctionNames:
    """Names the function around a line, since tracemalloc's frames carry only a file and a line.

    The source is read as it is now (``linecache``) and parsed once per file. The name is the
    innermost ``def`` or ``class`` whose body holds the line, ``<module>`` outside them, as a
    code object would be named; lambdas and comprehensions take the name of the function they
    are written in. ``UNNAMED`` where the source cannot be read or parsed.
    """

    __slots__ = ("_files",)

    def __init__(self) -> None:
        self._files: dict[str, list[str] | None] = {}

    def __call__(self, filename: str, lineno: int) -> str:
        if filename not in self._files:
            self._files[filename] = _names_by_line(filename)
        names = self._files[filename]
        if names is None or not 0 < lineno < len(names):
            return UNNAMED
        return names[lineno]


def _names_by_line(filename: str) -> list[str] | None:
    """``names[lineno]`` is the scope that line belongs to; None where there is no source."""
    lines = linecache.getlines(filename)
    if not lines:
        return None
    try:
        tree = ast.parse("".join(lines), filename)
    except (SyntaxError, ValueError):
        return None
    scopes = [
        (_first_line(node.body[0]), node.end_lineno or node.lineno, node.name)
        for node in ast.walk(tree)  # outer scopes before inner ones
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]
    names = ["<module>"] * (len(lines) + 1)
    # A signature's defaults and decorators run in the enclosing scope: a scope owns its body.
    for first, last, name in sorted(scopes, key=lambda scope: (scope[0], -scope[1])):
        names[first : last + 1] = [name] * (last + 1 - first)
    return names


def _first_line(statement: ast.stmt) -> int:
    """Where a statement starts: a decorated definition starts at its first decorator."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return min([statement.lineno, *(d.lineno for d in statement.decorator_list)])
    return statement.lineno
