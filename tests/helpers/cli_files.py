"""Baselines and reports on disk, shaped like the gate's own, for the ``memgate`` command's tests."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_memgate import __version__
from pytest_memgate.baseline import BaselineEntry, render_baseline
from pytest_memgate.model import RunRecord, RunStatus, RunSummary

MiB = 1024**2
RECORDED = {"date": "2025-11-25T16:27:00+00:00", "commit": "2c4c677f00dbeef1234567890", "branch": "main"}


def runs(peak: int, *, n: int = 3, rss: int = 80 * MiB, growth: float = 10.0) -> tuple[RunSummary, ...]:
    """``n`` runs around ``peak`` with the small spread real runs have."""
    return tuple(
        RunSummary(
            peak_heap_bytes=peak + i * 1000,
            peak_rss_bytes=rss + i * 4096,
            heap_growth=growth + i,
            heap_growth_se=2.0,
            rss_growth=100.0,
            rss_growth_se=50.0,
        )
        for i in range(n)
    )


def write_baseline(path: Path, entries: dict[str, BaselineEntry]) -> Path:
    path.write_text(render_baseline(entries, __version__), encoding="utf-8")
    return path


def record(peak: int, *, step: int = 64, status: RunStatus = RunStatus.OK) -> RunRecord:
    if status is not RunStatus.OK:
        return RunRecord(status, "memray", error="run died from signal 11")
    return RunRecord(
        status,
        "memray",
        warmup=10,
        iterations=50,
        peak_heap_bytes=peak,
        peak_rss_bytes=80 * MiB,
        heap_floor_bytes=tuple(i * step for i in range(51)),
        rss_floor_bytes=(0,) * 51,
    )


def write_report(path: Path, scenarios: dict[str, tuple[str, list[RunRecord]]]) -> Path:
    """A document shaped like the plugin's ``--memgate-report`` output."""
    document = {
        "memgate_version": __version__,
        "report_version": 1,
        "backend": "memray",
        "scenarios": [
            {
                "id": nodeid,
                "verdict": verdict,
                "backend": "memray",
                "runs": len(records),
                "run_records": [r.to_dict() for r in records],
            }
            for nodeid, (verdict, records) in scenarios.items()
        ],
    }
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path
