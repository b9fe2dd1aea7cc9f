"""Allocation sites a reviewer can act on: the user's line, paths that read the same anywhere."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..model import AllocSite

Frame = tuple[str, str, int]  # (function, filename, lineno)

_OWN_DIR = str(Path(__file__).resolve().parent.parent)
_LIBRARY_MARKERS = ("site-packages", "dist-packages", os.sep + "lib" + os.sep + "python")
_HARNESS_PARTS = (os.sep + "_pytest" + os.sep, os.sep + "pytest" + os.sep, os.sep + "pluggy" + os.sep)
_DEPTH = 8  # frames kept of each site's biggest stack
UNNAMED = "?"  # the function of a frame whose backend could not name it


def _is_own_frame(filename: str) -> bool:
    """Frames of the gate and the test harness: never the culprit a user can fix."""
    return (
        filename.startswith(_OWN_DIR)
        or filename.startswith("<frozen runpy")
        or any(part in filename for part in _HARNESS_PARTS)
    )


def _is_library_frame(filename: str) -> bool:
    return any(marker in filename for marker in _LIBRARY_MARKERS) or filename.startswith("<")


def short_path(filename: str, root: str | None) -> str:
    """Paths that read the same on every machine: relative to the project (``root``, else
    the working directory) or to the library root."""
    for marker in ("site-packages" + os.sep, "dist-packages" + os.sep):
        if marker in filename:
            return filename.split(marker, 1)[1]
    stdlib = os.path.dirname(os.__file__) + os.sep
    if filename.startswith(stdlib):
        return filename[len(stdlib) :]
    prefix = (root.rstrip(os.sep) if root else os.getcwd()) + os.sep
    if filename.startswith(prefix):
        return filename[len(prefix) :]
    return filename


@dataclass(slots=True)
class _SiteTotal:
    size_bytes: int = 0
    count: int = 0
    biggest: int = -1
    stack: tuple[Frame, ...] = ()


def make_sites(
    raw: Sequence[tuple[Sequence[Frame], int, int]],
    *,
    root: str | None,
    limit: int,
    function_of: Callable[[str, int], str] | None = None,
) -> tuple[AllocSite, ...]:
    """Group raw ``(stack, bytes, count)`` records by the innermost frame in the user's code.

    An allocation inside ``json.loads`` is reported at the user's line that called it: that
    is the line a reviewer can change. The full (trimmed) stack of the biggest contributor
    is kept beside it. ``function_of(filename, lineno)`` names the functions of frames that
    came without a name (``UNNAMED``); it is asked only about the frames that are kept.
    """
    grouped: dict[Frame, _SiteTotal] = {}
    for stack, size, count in raw:
        if stack and str(stack[0][1]).startswith(_OWN_DIR):
            continue  # allocated by the gate itself (its bookkeeping, its watchdog thread)
        kept = [(str(f), str(p), int(n)) for f, p, n in stack if not _is_own_frame(str(p))]
        if stack and not kept:
            continue  # the gate's own bookkeeping between calls
        if function_of is not None:
            kept = [(function_of(p, n) if f == UNNAMED else f, p, n) for f, p, n in kept]
        kept = kept or [("<unknown>", "<unknown>", 0)]
        user = next((f for f in kept if not _is_library_frame(f[1])), kept[0])
        frames = [(f, short_path(p, root), n) for f, p, n in kept[:_DEPTH]]
        user = (user[0], short_path(user[1], root), user[2])
        total = grouped.setdefault(user, _SiteTotal())
        total.size_bytes += size
        total.count += count
        if size > total.biggest:
            total.biggest, total.stack = size, tuple(frames)
    ranked = sorted(grouped.items(), key=lambda item: -item[1].size_bytes)
    return tuple(
        AllocSite(key[0], key[1], key[2], total.size_bytes, total.count, total.stack)
        for key, total in ranked[:limit]
    )


def downsample(points: Sequence[tuple[float, int, int]], limit: int) -> tuple[tuple[float, int, int], ...]:
    """Keep at most ``limit`` points, each bucket's highest heap, so peaks survive for charts."""
    if len(points) <= limit:
        return tuple(points)
    size = len(points) / limit
    out = []
    for i in range(limit):
        bucket = points[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)]
        out.append(max(bucket, key=lambda p: p[1]))
    return tuple(out)
