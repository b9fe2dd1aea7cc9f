"""Measurement backends: one protocol, one selector that says why it chose what it chose.

The pieces a backend is built from live beside this file, one job each: ``calls`` (how the
measured calls are made), ``rss`` (the untracked resident-memory phase), ``sites``
(allocation sites a reviewer can act on) and ``watchdog`` (the hard cap).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import BackendUnavailable
from ..model import RunRecord, RunRequest

Body = Callable[[], object]


class Backend(Protocol):
    name: str

    def measure(self, body: Body, request: RunRequest, workdir: Path) -> RunRecord:
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
