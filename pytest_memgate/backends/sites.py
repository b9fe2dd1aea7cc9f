"""Allocation sites a reviewer can act on: the user's line, paths that read the same anywhere."""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
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
EXTERNAL = "<external>"  # stands in for this machine's path to a file outside the project and libraries


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
    """Paths that read the same on every machine, since they land in committed baselines.

    Relative to the library root (site-packages), the standard library, or the project
    (``root``, else the working directory). Any other absolute path (a script in the home
    directory, a checkout beside the project) would put this machine's layout into the
    baseline: it is marked external and shown as its module path under the nearest
    ``sys.path`` entry, else by its file name alone (``<external>/job.py``).
    """
    return _short_path(filename, root or os.getcwd(), tuple(sys.path))


@functools.lru_cache(maxsize=4096)
def _short_path(filename: str, root: str, search_path: tuple[str, ...]) -> str:
    for marker in ("site-packages" + os.sep, "dist-packages" + os.sep):
        if marker in filename:
            return filename.split(marker, 1)[1]
    if not os.path.isabs(filename):
        return filename  # "<frozen ...>", "<string>", or a name the code was compiled with
    for stdlib in _stdlib_dirs():
        if filename.startswith(stdlib):
            return filename[len(stdlib) :]
    names = tuple(dict.fromkeys((filename, os.path.realpath(filename))))  # as run, and resolved
    for base in _spellings(root):
        for name in names:
            if name.startswith(base):
                return name[len(base) :]
    under = [
        name[len(base) :]
        for entry in search_path
        if entry and os.path.isabs(entry)
        for base in _spellings(entry)
        for name in names
        if name.startswith(base)
    ]
    return EXTERNAL + "/" + (min(under, key=len) if under else os.path.basename(filename))


@functools.lru_cache(maxsize=256)
def _spellings(directory: str) -> tuple[str, ...]:
    """``directory`` as given and resolved, each with a trailing separator; never the
    filesystem root, under which every path would read as relative."""
    out = []
    for spelling in (os.path.abspath(directory), os.path.realpath(directory)):
        prefix = spelling.rstrip(os.sep) + os.sep
        if prefix != os.sep and prefix not in out:
            out.append(prefix)
    return tuple(out)


@functools.lru_cache(maxsize=1)
def _stdlib_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    found = [os.path.dirname(os.__file__), paths.get("stdlib", ""), paths.get("platstdlib", "")]
    return tuple(dict.fromkeys(prefix for d in found if d for prefix in _spellings(d)))


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


SiteKey = tuple[str, str, int, Sequence[Sequence[object]]]  # (function, filename, lineno, stack)


def _callers(site: SiteKey) -> tuple[tuple[str, str], ...]:
    """Who called the site's function, without line numbers: an edit above a function moves
    every line in it. The frames inside libraries that the line called are left out: which
    of their allocations was biggest changes from run to run."""
    frames = [(str(frame[0]), str(frame[1])) for frame in site[3] if len(frame) == 3]
    own = (site[0], site[1])
    return tuple(frames[frames.index(own) + 1 :]) if own in frames else tuple(frames)


def match_sites(current: Sequence[SiteKey], baseline: Sequence[SiteKey]) -> list[int | None]:
    """For each current site, the index of the same site in ``baseline``, or None.

    A site is its file and function: a line added above the function moves every line in
    it, and it is still the same code. The same line matches first; then, within each
    function, the pairs with the same callers, moved by the shift most pairs share, and
    nearest, before any other. Each baseline site matches at most one current
    site, so a new line in a function with one known site does not take that site's place.
    """
    found: list[int | None] = [None] * len(current)
    taken: set[int] = set()
    exact = {(f, p, n): i for i, (f, p, n, _) in reversed(list(enumerate(baseline)))}
    for i, (f, p, n, _) in enumerate(current):
        j = exact.get((f, p, n))
        if j is not None and j not in taken:
            found[i] = j
            taken.add(j)
    still = {(current[i][0], current[i][1]) for i in range(len(current)) if found[i] is not None}
    groups: dict[tuple[str, str], list[int]] = {}
    for j, (f, p, _, _) in enumerate(baseline):
        if j not in taken:
            groups.setdefault((f, p), []).append(j)
    waiting = [
        i for i in range(len(current)) if found[i] is None and (current[i][0], current[i][1]) in groups
    ]
    for (function, filename), candidates in groups.items():
        mine = [i for i in waiting if current[i][0] == function and current[i][1] == filename]
        shifts = [current[i][2] - baseline[j][2] for i in mine for j in candidates]
        if not shifts:
            continue
        common = max(set(shifts), key=lambda s: (shifts.count(s), -abs(s)))
        usual = common if shifts.count(common) > 1 else None  # one pair per shift: none to go by
        pairs = sorted(
            (
                _callers(current[i]) != _callers(baseline[j]),
                usual is not None and current[i][2] - baseline[j][2] != usual,
                abs(current[i][2] - baseline[j][2]),
                i,
                j,
            )
            for i in mine
            for j in candidates
        )
        settled = (function, filename) in still  # some of its lines did not move
        for *_, i, j in pairs:
            if settled and shifts.count(current[i][2] - baseline[j][2]) < 2:
                continue  # beside lines that stayed, a lone other line is new code, not moved
            if found[i] is None and j not in taken:
                found[i] = j
                taken.add(j)
    return found
