"""The properties JUnit XML readers (CI test views) show beside a memload test."""

from __future__ import annotations

from ..results import ScenarioResult


def junit_properties(result: ScenarioResult) -> list[tuple[str, object]]:
    """The verdict and the figures the summary table shows, as (name, value) properties."""
    return [
        ("memgate_verdict", result.outcome.value),
        ("memgate_runs", len(result.records)),
        ("memgate_heap_peak_bytes", int(result.median("peak_heap_bytes"))),
        ("memgate_heap_growth_bytes_per_call", round(result.median("heap_growth"), 1)),
        ("memgate_rss_peak_bytes", int(result.median("peak_rss_bytes"))),
    ]
