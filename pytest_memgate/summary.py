"""The session's end, from plain data: the order scenarios are listed in, the baseline
entries whose test is gone, whether any document is wanted, and writing the documents.

The session hands over what it holds (results, collected ids, the configuration); the
renderers then get a ``SessionReport`` and the public document and do no I/O themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .config import GateConfig
from .outputs import RENDERERS, write_flamegraphs, write_outputs
from .results import ScenarioResult, SessionReport


def natural_key(nodeid: str) -> list[tuple[int, int | str]]:
    """Sort ``test[n=4000]`` before ``test[n=16000]``: numbers by value, text by text."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", nodeid)]


def in_order(results: Mapping[str, ScenarioResult]) -> tuple[ScenarioResult, ...]:
    """The results as every report lists them (``natural_key``)."""
    return tuple(results[k] for k in sorted(results, key=natural_key))


def shown(path: Path, rootdir: Path) -> str:
    """A path inside the project as the project sees it: reports carry no machine paths."""
    try:
        return path.resolve().relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        return str(path)


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


def wants_document(config: GateConfig, environ: Mapping[str, str]) -> bool:
    """Whether any output needs the public document (a report file, or GitHub Actions)."""
    return any(config.output_path(key) is not None for key in RENDERERS) or bool(
        environ.get("GITHUB_STEP_SUMMARY") or environ.get("GITHUB_ACTIONS") == "true"
    )


@dataclass(frozen=True, slots=True)
class Documents:
    """What writing the documents left: the public document and how each file went."""

    document: dict[str, Any]
    files: list[tuple[str, str]]  # (what, path), flame graphs and kept captures included
    errors: list[str]  # writes that failed
    warnings: list[str]  # flame graphs that could not be rendered


def write_documents(
    config: GateConfig,
    report: SessionReport,
    provenance: Mapping[str, Any],
    environ: Mapping[str, str],
) -> Documents:
    """The public document of ``report``, memray's flame graphs of the kept captures, and
    every output the configuration asks for; a write that fails is an error in the result."""
    from .reports.json import build_report

    document = build_report(replace(report, provenance=provenance))
    captures = {r.nodeid: r.capture for r in report.results if r.capture is not None}
    links, kept, warnings = write_flamegraphs(config, document, captures)
    files, errors = write_outputs(config, document, environ, flamegraphs=links)
    return Documents(document, files + kept, errors, warnings)
