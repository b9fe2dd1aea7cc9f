"""Plain, frozen records that cross process and file boundaries, with their JSON codecs.

Everything here is small and serialisable on purpose: a run's record travels from the
measuring child to the pytest process (and later from xdist workers to the controller)
as JSON, and only one process ever writes files from them.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, fields
from typing import Any


class RunStatus(str, enum.Enum):
    """How one measured run ended."""

    OK = "ok"
    RAISED = "raised"  # the scenario body raised an exception
    CRASHED = "crashed"  # the child died from a signal other than SIGKILL
    KILLED = "killed"  # SIGKILL: usually the kernel's OOM killer
    TIMED_OUT = "timed_out"
    HARD_CAP = "hard_cap"  # stopped by the gate before it could exhaust the machine


@dataclass(frozen=True, slots=True)
class AllocSite:
    """Where memory was allocated: innermost frame first, as memray reports it."""

    function: str
    filename: str
    lineno: int
    size_bytes: int
    count: int
    stack: tuple[tuple[str, str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stack"] = [list(frame) for frame in self.stack]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AllocSite:
        return cls(
            function=str(data["function"]),
            filename=str(data["filename"]),
            lineno=int(data["lineno"]),
            size_bytes=int(data["size_bytes"]),
            count=int(data["count"]),
            stack=tuple((str(f), str(p), int(n)) for f, p, n in data.get("stack", ())),
        )

    @property
    def location(self) -> str:
        return f"{self.function} at {self.filename}:{self.lineno}"


@dataclass(frozen=True, slots=True)
class RunRecord:
    """Raw figures of one isolated run: the series are kept for shapes, charts and culprits.

    ``heap_floor_bytes[i]`` is the tracked heap after garbage collection once ``i`` measured
    calls have completed (index 0 is the level before the first measured call), relative to
    the moment tracking began. ``rss_floor_bytes`` is the same for resident memory, relative
    to the RSS when the run started (before warm-up).
    """

    status: RunStatus
    backend: str
    warmup: int = 0
    iterations: int = 0
    peak_heap_bytes: int = 0
    peak_rss_bytes: int = 0
    heap_floor_bytes: tuple[int, ...] = ()
    rss_floor_bytes: tuple[int, ...] = ()
    timeline: tuple[tuple[float, int, int], ...] = ()  # (seconds, heap, rss) samples
    peak_sites: tuple[AllocSite, ...] = ()
    retained_sites: tuple[AllocSite, ...] = ()
    measured_s: float = 0.0
    wall_s: float = 0.0
    error: str = ""
    limitations: tuple[str, ...] = ()  # what this backend's record cannot show, in words

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.OK

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "status":
                value = value.value
            elif f.name in ("peak_sites", "retained_sites"):
                value = [site.to_dict() for site in value]
            elif f.name == "timeline":
                value = [list(point) for point in value]
            elif isinstance(value, tuple):
                value = list(value)
            data[f.name] = value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        return cls(
            status=RunStatus(data["status"]),
            backend=str(data["backend"]),
            warmup=int(data.get("warmup", 0)),
            iterations=int(data.get("iterations", 0)),
            peak_heap_bytes=int(data.get("peak_heap_bytes", 0)),
            peak_rss_bytes=int(data.get("peak_rss_bytes", 0)),
            heap_floor_bytes=tuple(int(v) for v in data.get("heap_floor_bytes", ())),
            rss_floor_bytes=tuple(int(v) for v in data.get("rss_floor_bytes", ())),
            timeline=tuple((float(t), int(h), int(r)) for t, h, r in data.get("timeline", ())),
            peak_sites=tuple(AllocSite.from_dict(s) for s in data.get("peak_sites", ())),
            retained_sites=tuple(AllocSite.from_dict(s) for s in data.get("retained_sites", ())),
            measured_s=float(data.get("measured_s", 0.0)),
            wall_s=float(data.get("wall_s", 0.0)),
            error=str(data.get("error", "")),
            limitations=tuple(str(v) for v in data.get("limitations", ())),
        )


@dataclass(frozen=True, slots=True)
class RunSummary:
    """The few numbers per run that the statistics need; what a baseline stores per run."""

    peak_heap_bytes: int
    peak_rss_bytes: int
    heap_growth: float  # bytes per call
    heap_growth_se: float
    rss_growth: float
    rss_growth_se: float

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        return cls(
            peak_heap_bytes=int(data["peak_heap_bytes"]),
            peak_rss_bytes=int(data["peak_rss_bytes"]),
            heap_growth=float(data["heap_growth"]),
            heap_growth_se=float(data.get("heap_growth_se", 0.0)),
            rss_growth=float(data["rss_growth"]),
            rss_growth_se=float(data.get("rss_growth_se", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What the measuring child needs to know; one object, not a list of argv flags."""

    warmup: int
    iterations: int
    backend: str
    native_traces: bool = False
    trace_python_allocators: bool = True
    top_sites: int = 10
    timeline_points: int = 400
    hard_cap_bytes: int | None = None
    project_root: str | None = None  # allocation sites are shown relative to it (else the cwd)
