"""What the session's summary lists, from plain data: the order scenarios are listed in, the
baseline entries whose test is gone, and paths as every report shows them.

The documents themselves are built and written by ``outputs.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from .results import ScenarioResult


def natural_key(nodeid: str) -> list[tuple[int, int | str]]:
    """Sort ``test[n=4000]`` before ``test[n=16000]``: numbers by value, text by text."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", nodeid)]


def in_order(results: Mapping[str, ScenarioResult]) -> tuple[ScenarioResult, ...]:
    """The results as every report lists them (``natural_key``)."""
    return tuple(results[k] for k in sorted(results, key=natural_key))


def shown(path: Path, rootdir: Path, *, outside: str | None = None) -> str:
    """A path as reports show it: relative to the rootdir, so they carry no machine paths.
    A path outside the rootdir is shown as given (the baseline, which the user must find),
    or as ``<outside>/<name>`` (a kept file, which ``memgate report`` looks for beside the
    report)."""
    try:
        return path.resolve().relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        return str(path) if outside is None else f"{outside}/{path.name}"


def stale_entries(
    entries: Iterable[str], collected: set[str], deselected: set[str], rootdir: Path
) -> list[str]:
    """Baseline scenarios whose test is gone: their file no longer exists, or their file
    was collected in this session without them (and they were not deselected)."""
    if not collected:
        return []
    files = {nodeid.split("::", 1)[0] for nodeid in collected}
    stale = []
    for nodeid in entries:
        if nodeid in collected or nodeid in deselected:
            continue
        file = nodeid.split("::", 1)[0]
        if file in files or not (rootdir / file).exists():
            stale.append(nodeid)
    return sorted(stale)
