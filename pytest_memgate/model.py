"""Plain, frozen records that cross process and file boundaries, with their JSON codecs.

Everything here is small and serialisable on purpose: a run's record travels from the
measuring child to the pytest process (and later from xdist workers to the controller)
as JSON, and only one process ever writes files from them.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, fields
from typing import Any

from .validate import (
    MAX_BYTES,
    InvalidValue,
    as_float,
    as_int,
    as_list,
    as_object,
    as_text,
    describe,
    get,
    within,
)


class RunStatus(str, enum.Enum):
    """How one measured run ended."""

    OK = "ok"
    RAISED = "raised"  # the scenario body raised an exception
    CRASHED = "crashed"  # the child died from a signal other than SIGKILL
    KILLED = "killed"  # SIGKILL: usually the kernel's OOM killer
    TIMED_OUT = "timed_out"
    HARD_CAP = "hard_cap"  # stopped by the gate before it could exhaust the machine


class Shape(str, enum.Enum):
    """What a run's heap floor looks like across its calls."""

    FLAT = "flat"
    GROWING = "monotonic growth"
    SAWTOOTH = "sawtooth with a rising floor"
    SPIKY = "spikes"
    WARMING = "warm-up that saturates"


@dataclass(frozen=True, slots=True)
class ShapeReport:
    """The shape over a scenario's runs, with the evidence of an upward floor."""

    shape: Shape
    trend_p: float  # combined evidence of an upward heap floor over all runs
    warmup_hint: int | None  # warm-up calls that would cover the saturating rise


# How the error of a memray run whose floor readings cannot show its growth begins: the
# runner measures such a run once more before it counts as an error (a sampler starved by
# a busy machine is no fault of the scenario's, and is rarely starved twice in a row).
FLOOR_UNREADABLE = "memray's floor readings cannot show this run's growth"


class FloorUnreadable(RuntimeError):
    """A run's floor readings cannot tell its growth: no information, never a flat floor."""


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
    def from_dict(cls, data: object) -> AllocSite:
        """Checked field by field: a site's sizes are bytes (>= 0); its line is only a label."""
        d = as_object(data)
        stack = []
        for i, frame in enumerate(as_list(get(d, "stack", ()), "stack")):
            with within(f"stack[{i}]"):
                items = as_list(frame, "")
                if len(items) != 3:
                    raise InvalidValue("", f"has {len(items)} items, not [function, file, line]")
                stack.append((as_text(items[0], "[0]"), as_text(items[1], "[1]"), _lineno(items[2], "[2]")))
        return cls(
            function=as_text(get(d, "function"), "function"),
            filename=as_text(get(d, "filename"), "filename"),
            lineno=_lineno(get(d, "lineno"), "lineno"),
            size_bytes=as_int(get(d, "size_bytes"), "size_bytes"),
            count=as_int(get(d, "count"), "count"),
            stack=tuple(stack),
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
    to the RSS when the run started (before warm-up). ``blocks_floor`` is pymalloc's count of
    allocated blocks (``sys.getallocatedblocks``) at the same moments as the heap floor: it
    sees small objects one by one where memray without Python allocator tracing sees only
    their 1 MiB arenas.
    """

    status: RunStatus
    backend: str
    warmup: int = 0
    iterations: int = 0
    peak_heap_bytes: int = 0
    peak_rss_bytes: int = 0
    heap_floor_bytes: tuple[int, ...] = ()
    rss_floor_bytes: tuple[int, ...] = ()
    blocks_floor: tuple[int, ...] = ()
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
    def from_dict(cls, data: object) -> RunRecord:
        """Checked field by field (see ``_bytes``): a record may come from a child, a report or
        a worker, and a value the statistics cannot use is refused here, by its key."""
        d = as_object(data)
        status = as_text(get(d, "status"), "status")
        try:
            run_status = RunStatus(status)
        except ValueError:
            known = ", ".join(s.value for s in RunStatus)
            raise InvalidValue("status", f"is {status[:40]!r}, not one of {known}") from None
        timeline = []
        for i, point in enumerate(as_list(get(d, "timeline", ()), "timeline")):
            with within(f"timeline[{i}]"):
                items = as_list(point, "")
                if len(items) != 3:
                    raise InvalidValue("", f"has {len(items)} items, not [seconds, heap, rss]")
                timeline.append((_stamp(items[0], "[0]"), _bytes(items[1], "[1]"), _bytes(items[2], "[2]")))
        record = cls(
            status=run_status,
            backend=as_text(get(d, "backend"), "backend"),
            warmup=as_int(get(d, "warmup", 0), "warmup"),
            iterations=as_int(get(d, "iterations", 0), "iterations"),
            peak_heap_bytes=_held(get(d, "peak_heap_bytes", 0), "peak_heap_bytes"),
            peak_rss_bytes=_bytes(get(d, "peak_rss_bytes", 0), "peak_rss_bytes"),
            heap_floor_bytes=_series(get(d, "heap_floor_bytes", ()), "heap_floor_bytes"),
            rss_floor_bytes=_series(get(d, "rss_floor_bytes", ()), "rss_floor_bytes"),
            blocks_floor=_series(get(d, "blocks_floor", ()), "blocks_floor"),
            timeline=tuple(timeline),
            peak_sites=sites_from_list(get(d, "peak_sites", ()), "peak_sites"),
            retained_sites=sites_from_list(get(d, "retained_sites", ()), "retained_sites"),
            measured_s=_seconds(get(d, "measured_s", 0.0), "measured_s"),
            wall_s=_seconds(get(d, "wall_s", 0.0), "wall_s"),
            error=as_text(get(d, "error", ""), "error"),
            limitations=tuple(
                as_text(v, f"limitations[{i}]")
                for i, v in enumerate(as_list(get(d, "limitations", ()), "limitations"))
            ),
        )
        if record.ok and record.peak_heap_bytes == 0 and any(v > 0 for v in record.heap_floor_bytes):
            raise InvalidValue(
                "peak_heap_bytes", "is 0 while the heap floor rose above 0: the peak is the highest level"
            )
        return record


@dataclass(frozen=True, slots=True)
class RunSummary:
    """The few numbers per run that the statistics need; what a baseline stores per run."""

    peak_heap_bytes: int
    peak_rss_bytes: int
    heap_growth: float  # bytes per call
    heap_growth_se: float
    rss_growth: float
    rss_growth_se: float
    # pymalloc blocks per call (``RunRecord.blocks_floor``); None where not counted
    blocks_growth: float | None = None
    blocks_growth_se: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The block counts only where counted, so that older files read back unchanged."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_dict(cls, data: object) -> RunSummary:
        """Checked field by field; the standard errors default to 0 for older files."""
        d = as_object(data)
        summary = cls(
            peak_heap_bytes=_held(get(d, "peak_heap_bytes"), "peak_heap_bytes"),
            peak_rss_bytes=_bytes(get(d, "peak_rss_bytes"), "peak_rss_bytes"),
            heap_growth=_rate(get(d, "heap_growth"), "heap_growth"),
            heap_growth_se=_rate(get(d, "heap_growth_se", 0.0), "heap_growth_se", low=0.0),
            rss_growth=_rate(get(d, "rss_growth"), "rss_growth"),
            rss_growth_se=_rate(get(d, "rss_growth_se", 0.0), "rss_growth_se", low=0.0),
            blocks_growth=_optional(get(d, "blocks_growth", None), "blocks_growth"),
            blocks_growth_se=_optional(get(d, "blocks_growth_se", None), "blocks_growth_se", low=0.0),
        )
        if summary.peak_heap_bytes == 0 and summary.heap_growth > 0:
            raise InvalidValue(
                "peak_heap_bytes",
                f"is 0 with a heap growth of {summary.heap_growth:g} bytes per call: a heap that "
                "never rose above its starting level cannot have grown",
            )
        return summary


# --- field checks shared by the records above ------------------------------------------
#
# What is in range, and why:
# - a heap peak is bytes above the level when tracking began, which no tracker reports below
#   zero; 0 is a scenario that allocated nothing (the statistics compare it with an offset),
#   so 0 is accepted only where nothing else says the heap rose;
# - an RSS peak, every floor and the timeline's levels are differences from a starting
#   level, and RSS can end below where it began (memory returned to the system): any sign;
# - growth rates have any sign; their standard errors are >= 0;
# - every byte figure fits in 64 bits (``MAX_BYTES``); durations are finite and >= 0;
# - every measured byte figure (peaks, levels, growth per call) is at most what one process
#   can address (``ADDRESSABLE_BYTES``).

# A heap or RSS figure counts bytes one process held at once, so it cannot exceed that
# process's virtual address space: user space is 2**47 bytes (128 TiB) on x86-64 and AArch64
# with 4-level page tables, and 2**48 is the whole 48-bit space. Only 5-level paging reaches
# further, on machines with more memory than any on sale. A figure past it was written, not
# measured: one such baseline run turned a +50% peak into "inconclusive", six into "improved".
ADDRESSABLE_BYTES = 2**48


def _addressable(number: float, key: str) -> None:
    if abs(number) > ADDRESSABLE_BYTES:
        raise InvalidValue(
            key,
            f"is {describe(number)}, more than any 64-bit process can address (2**48 bytes): it was "
            "not measured",
        )


def _held(value: object, key: str) -> int:
    """A peak: bytes above the start, never negative, within one address space."""
    number = as_int(value, key)
    _addressable(number, key)
    return number


def _rate(value: object, key: str, *, low: float = -MAX_BYTES) -> float:
    """Bytes per call (or its standard error): one call cannot add more than the process holds."""
    number = as_float(value, key, low=low)
    _addressable(number, key)
    return number


def _bytes(value: object, key: str) -> int:
    """A byte level relative to a start: either sign, within one address space."""
    number = as_int(value, key, low=-MAX_BYTES)
    _addressable(number, key)
    return number


def _optional(value: object, key: str, low: float | None = None) -> float | None:
    if value is None:
        return None
    return as_float(value, key) if low is None else as_float(value, key, low=low)


def _lineno(value: object, key: str) -> int:
    """A line number is a label, not a measurement: any whole number that fits."""
    return as_int(value, key, low=-MAX_BYTES)


def _seconds(value: object, key: str) -> float:
    return as_float(value, key, low=0, high=MAX_BYTES)


def _stamp(value: object, key: str) -> float:
    """A timeline's time is for charts: any finite number (its origin is the first sample)."""
    return as_float(value, key, low=-MAX_BYTES, high=MAX_BYTES)


def _series(value: object, key: str) -> tuple[int, ...]:
    return tuple(_bytes(v, f"{key}[{i}]") for i, v in enumerate(as_list(value, key)))


def sites_from_list(value: object, key: str) -> tuple[AllocSite, ...]:
    """A list of sites, each error naming its index (``peak_sites[2].size_bytes``)."""
    sites = []
    for i, raw in enumerate(as_list(value, key)):
        with within(f"{key}[{i}]"):
            sites.append(AllocSite.from_dict(raw))
    return tuple(sites)


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
    # A cheap run (the first look): memray traces only this many measured calls, for the
    # peak; the rest run untracked, their floors read from counters. 0: every call traced.
    traced_calls: int = 0
