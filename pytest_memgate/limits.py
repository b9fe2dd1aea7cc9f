"""Which memory limit matters: the container's (cgroup), not the host's.

A peak that fits on a laptop can be OOM-killed in a 512 MiB pod, so percentage budgets
(``max_peak="40%"``) and the hard cap are taken from the cgroup limit of the process
running the tests, or from ``memory_limit`` in the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


def detect_memory_limit(root: Path = Path("/")) -> MemoryLimit:
    """The tightest cgroup memory limit on this process's path, v2 then v1; None on a bare host."""
    v2, v1 = _cgroup_paths(root)
    candidates: list[Path] = []
    if v2 is not None:
        base = root / "sys/fs/cgroup"
        relative = Path(v2.lstrip("/"))
        # Walk up: a parent cgroup's limit binds its children too.
        for parent in [relative, *relative.parents]:
            candidates.append(base / parent / "memory.max")
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


def hard_cap_bytes(
    cap: str | int | float, budgets: tuple[int | float | None, ...], limit_bytes: int | None
) -> int | None:
    """RSS growth at which a run is stopped before it can take the machine down.

    ``cap`` is the configured value: "off", "auto", bytes, or a share of the limit.
    "auto" stays far past the scenario's budgets, not merely over them (RSS also holds
    the tracker and the allocator), and under 90% of the memory limit.
    """
    if cap == "off":
        return None
    if isinstance(cap, int):
        return cap
    if isinstance(cap, float):
        return int(cap * limit_bytes) if limit_bytes is not None else None
    candidates = [max(4 * b, b + 512 * 1024**2) for b in budgets if isinstance(b, int)]
    if limit_bytes is not None:
        candidates.append(int(0.9 * limit_bytes))
    return min(candidates) if candidates else None
