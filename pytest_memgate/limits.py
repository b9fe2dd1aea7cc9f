"""Which memory limit matters: the container's (cgroup), not the host's.

A peak that fits on a laptop can be OOM-killed in a 512 MiB pod, so percentage budgets
(``max_peak="40%"``) and the hard cap are taken from the cgroup limit of the process
running the tests, or from ``memory_limit`` in the configuration. The hard cap falls back
to the machine's memory where there is no limit: it protects the CI runner either way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .units import format_size

# Kernels report "no limit" as a number near 2**63 (rounded to the page size).
_UNLIMITED = 1 << 60


@dataclass(frozen=True, slots=True)
class MemoryLimit:
    limit_bytes: int | None
    source: str


def _read_limit(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text in ("", "max"):
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return value if 0 < value < _UNLIMITED else None


def _cgroup_paths(root: Path) -> tuple[str | None, str | None]:
    """(v2 path, v1 memory path) of this process, from /proc/self/cgroup."""
    v2 = v1 = None
    try:
        lines = (root / "proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    return v2, v1


def _up_the_v2_path(root: Path, v2: str, name: str) -> list[Path]:
    """A cgroup v2 file in this process's group and each group above it: a parent's limit
    binds its children too."""
    relative = Path(v2.lstrip("/"))
    return [root / "sys/fs/cgroup" / parent / name for parent in [relative, *relative.parents]]


def detect_memory_limit(root: Path = Path("/")) -> MemoryLimit:
    """The tightest cgroup memory limit on this process's path, v2 then v1; None on a bare host."""
    v2, v1 = _cgroup_paths(root)
    candidates: list[Path] = []
    if v2 is not None:
        candidates += _up_the_v2_path(root, v2, "memory.max")
    if v1 is not None:
        base = root / "sys/fs/cgroup/memory"
        relative = Path(v1.lstrip("/"))
        for parent in [relative, *relative.parents]:
            candidates.append(base / parent / "memory.limit_in_bytes")
    found = [(limit, path) for path in candidates if (limit := _read_limit(path)) is not None]
    if not found:
        return MemoryLimit(None, "no cgroup memory limit found (bare host or unlimited container)")
    limit, path = min(found)
    return MemoryLimit(limit, f"cgroup {path.relative_to(root)}")


def resolve_memory_limit(configured: int | None, root: Path = Path("/")) -> MemoryLimit:
    if configured is not None:
        return MemoryLimit(configured, "memory_limit in the configuration")
    return detect_memory_limit(root)


# A run is two children at once (the heap child and the untracked RSS child).
RUN_CHILDREN = 2
# The share of the memory a run's children may take together under ``hard_cap = "auto"``.
AUTO_SHARE = 0.5
# ... but never less per child: the tracker and the allocator alone take some tens of MiB, and
# a limit this small is a production figure configured for budgets, not the CI runner's.
AUTO_FLOOR = 64 * 1024**2
_BUDGET_FACTOR = 4
_BUDGET_HEADROOM = 512 * 1024**2


@dataclass(frozen=True, slots=True)
class HardCap:
    """The RSS growth at which one measuring child is stopped, and where that figure came from.

    ``bytes`` is per child (None: no cap). ``source`` is for the summary, after the size:
    ``hard cap: 5.89 GiB per child (auto: 50% of the 23.5 GiB machine memory, shared by the
    run's two children)``, or ``... shared by the two children of each of 2 xdist workers``.
    """

    bytes: int | None
    source: str


def machine_memory() -> int | None:
    """Physical memory of this machine: what the cap protects when no cgroup limit binds."""
    try:
        import psutil

        total = int(psutil.virtual_memory().total)
    except Exception:  # noqa: BLE001 - an unreadable figure means "unknown", never a crash
        return None
    return total if total > 0 else None


def _protected(limit: MemoryLimit, machine_bytes: int | None) -> tuple[int, str] | None:
    """The memory the cap protects, in words: the limit, or the machine's memory where there
    is no limit or the limit is set above what the machine has."""
    if limit.limit_bytes is not None and (machine_bytes is None or limit.limit_bytes <= machine_bytes):
        return limit.limit_bytes, f"{format_size(limit.limit_bytes)} memory limit ({limit.source})"
    if machine_bytes is not None:
        return machine_bytes, f"{format_size(machine_bytes)} machine memory"
    return None


def xdist_workers(
    *, worker: bool, numprocesses: object = None, environ: Mapping[str, str] | None = None
) -> int:
    """How many xdist workers measure at once: in a worker, ``PYTEST_XDIST_WORKER_COUNT``
    (set by xdist); on the controller, ``-n`` (a number once xdist has read it); else 1.
    Only a worker reads the variable: a pytest started from inside a worker inherits it."""
    value = (
        (os.environ if environ is None else environ).get("PYTEST_XDIST_WORKER_COUNT")
        if worker
        else numprocesses
    )
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 1


def resolve_hard_cap(
    cap: str | int | float,
    budgets: tuple[int | float | None, ...],
    limit: MemoryLimit,
    machine_bytes: int | None,
    workers: int = 1,
    jobs: int = RUN_CHILDREN,
) -> HardCap:
    """RSS growth at which one measuring child is stopped before it can take the machine down.

    ``cap`` is the configured value: "off", "auto", bytes (per child, as given), or a share
    of the memory. A share is of the memory limit, else of the machine's memory
    (``machine_memory()``), and is split between the run's two children: they run at once,
    and each must leave room for the other.

    "auto" always protects the machine: each child gets the smaller of
    max(4x budget, budget + 512 MiB) for each budget of the scenario (far past the budget,
    since RSS also holds the tracker and the allocator) and its half of 50% of the memory.
    Why 50%: the pytest process the children were forked from, the CI runner's own agent,
    services and the kernel's page cache live in the same memory, and the parent's backstop
    for a child stuck in native code kills only at 1.5x the cap; half the memory for a run
    leaves the other half to all of them (both children at their backstop still stay under
    about 75%), and a scenario that needs more than a quarter of the machine per child is
    one to give a budget or an explicit ``hard_cap``. The share never leaves a child less
    than 64 MiB: below a 256 MiB limit it could not protect anything (pytest alone takes
    about that much), and would only stop ordinary runs.

    Under pytest-xdist, ``workers`` runs measure at once on the same machine, each with its
    two children: a share (auto or configured) is split between all ``2 x workers`` of them,
    so that together they stay within it. ``jobs`` is how many children each pytest process
    runs at once (two by default: one run's; more where runs go in parallel, ``cpu_jobs``),
    and divides the share the same way. A size in bytes stays per child, as given.
    """
    if cap == "off":
        return HardCap(None, 'off (hard_cap = "off")')
    if isinstance(cap, int):
        return HardCap(cap, "hard_cap in the configuration")
    protected = _protected(limit, machine_bytes)
    workers, jobs = max(1, workers), max(1, jobs)
    children = jobs * workers
    shared = _shared_by(jobs, workers)
    if isinstance(cap, float):
        if protected is None:
            return HardCap(None, f"off: hard_cap = {_percent(cap)} of an unknown memory size")
        memory, words = protected
        return HardCap(int(cap * memory / children), f"{_percent(cap)} of the {words}, {shared}")
    candidates: list[tuple[int, str]] = []
    for budget in budgets:
        if isinstance(budget, int) and not isinstance(budget, bool):
            if _BUDGET_FACTOR * budget >= budget + _BUDGET_HEADROOM:
                candidates.append(
                    (_BUDGET_FACTOR * budget, f"auto: 4x the scenario's {format_size(budget)} budget")
                )
            else:
                words = f"auto: the scenario's {format_size(budget)} budget + {format_size(_BUDGET_HEADROOM)}"
                candidates.append((budget + _BUDGET_HEADROOM, words))
    if protected is not None:
        memory, words = protected
        share = int(AUTO_SHARE * memory / children)
        text = f"{_percent(AUTO_SHARE)} of the {words}, {shared}"
        if share >= AUTO_FLOOR:
            candidates.append((share, f"auto: {text}"))
        else:
            floor = f"auto: {format_size(AUTO_FLOOR)}, the least a measured run is given"
            candidates.append((AUTO_FLOOR, f"{floor} ({text}, would be {format_size(share)})"))
    if not candidates:
        return HardCap(None, "off: no budget, no memory limit and the machine's memory is unknown")
    size, source = min(candidates, key=lambda candidate: candidate[0])
    return HardCap(size, source)


def _shared_by(jobs: int, workers: int) -> str:
    if jobs == RUN_CHILDREN:
        if workers == 1:
            return "shared by the run's two children"
        return f"shared by the two children of each of {workers} xdist workers"
    at_once = "the one child measuring at a time" if jobs == 1 else f"the {jobs} children measuring at once"
    return f"shared by {at_once}" + ("" if workers == 1 else f" in each of {workers} xdist workers")


# Children measuring at once, whatever the cores: two (one run) is the least that keeps a
# run's phases together; eight (four runs) is past what a look or a baseline asks at once.
MIN_JOBS, MAX_JOBS = RUN_CHILDREN, 8


def usable_cores(root: Path = Path("/")) -> int:
    """Cores this process may really use: its CPU affinity, and a cgroup CPU quota
    (``cpu.max``, as ``docker --cpus`` sets it) where one binds."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    v2, _ = _cgroup_paths(root)
    if v2 is not None:
        for path in _up_the_v2_path(root, v2, "cpu.max"):
            quota = _read_cpu_quota(path)
            if quota is not None:
                cores = min(cores, quota)
    return max(1, cores)


def _read_cpu_quota(path: Path) -> int | None:
    """Whole cores a ``cpu.max`` of "quota period" allows (at least 1); None for "max"."""
    try:
        quota, period = path.read_text().split()[:2]
        allowed = int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None
    return max(1, int(allowed)) if allowed > 0 else None


def cpu_jobs(configured: int | None, workers: int = 1, cores: int | None = None) -> int:
    """Measuring children each pytest process runs at once. ``auto`` (None): its share of the
    usable cores (divided among xdist workers), at least one run's two children and at most
    ``MAX_JOBS``. More children than cores would let them slow each other and make memray's
    sampler late for the quiet windows the heap floor is read in."""
    if configured is not None:
        return configured
    cores = usable_cores() if cores is None else cores
    return min(MAX_JOBS, max(MIN_JOBS, cores // max(1, workers)))


def _percent(share: float) -> str:
    return f"{share * 100:g}%"


def hard_cap_bytes(
    cap: str | int | float,
    budgets: tuple[int | float | None, ...],
    limit_bytes: int | None,
    machine_bytes: int | None = None,
) -> int | None:
    """``resolve_hard_cap(...).bytes``, for callers that pass the limit as a number."""
    limit = MemoryLimit(limit_bytes, "memory limit")
    return resolve_hard_cap(cap, budgets, limit, machine_bytes).bytes
