"""The ``--memgate-report`` document. Other tools read it: keep the documented names.

The result model is mapped onto the public document here, and only when writing: the
session's state and the xdist payload are the typed results, not this dictionary.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .. import __version__
from ..results import Finding, Metric, ScenarioResult, SessionReport
from .words import finding_text, note_text, verdict_message

# 2: each scenario says whether the gate fails its test (``fails``) and why (``failure``);
# a reader of a version-1 report falls back on the verdict (``document.fails``).
REPORT_VERSION = 2
_SCALING = (Metric.PEAK_SCALING, Metric.PRODUCTION_PEAK)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _finding(f: Finding) -> dict[str, Any]:
    c = f.comparison
    return {
        "metric": f.metric.value,
        "reason": f.reason.value,
        "regressed": f.regressed,
        "improved": f.improved,
        "ambiguous": f.ambiguous,
        "text": finding_text(f),
        "baseline": _finite(c.baseline) if c else None,
        "current": _finite(c.current) if c else None,
        "delta": _finite(c.delta) if c else None,
        "delta_ci": [_finite(c.delta_low), _finite(c.delta_high)] if c else None,
        "ratio": _finite(c.ratio) if c else None,
        "ratio_ci": [_finite(c.ratio_low), _finite(c.ratio_high)] if c else None,
        "p_increase": _finite(c.p_increase) if c else None,
    }


def _scaling(result: ScenarioResult) -> dict[str, Any] | None:
    s = result.scaling
    if s is None:
        return None
    document: dict[str, Any] = {
        "family": s.family,
        "sizes": list(s.sizes),
        "exponent": _finite(s.fit.exponent),
        "exponent_ci": [_finite(s.fit.low), _finite(s.fit.high)],
        "baseline_exponent": s.baseline_exponent,
        "findings": [finding_text(f) for f in result.verdict.findings if f.metric in _SCALING],
    }
    if s.production_size is not None:
        document["production_size"] = s.production_size
        document["production_peak_bytes"] = s.production_peak_bytes
        document["production_peak_upper_bytes"] = s.production_peak_upper_bytes
    return document


def scenario_document(result: ScenarioResult, *, failure: str | None) -> dict[str, Any]:
    """One scenario; ``failure`` is why the gate fails its test (a ``failing.Failure`` value),
    None when it passes: the renderers and ``memgate merge`` read it rather than judging the
    verdict again, which would miss ``inconclusive = "fail"``, ``--memgate-strict`` and an
    accepted increase."""
    baseline = None
    if result.baseline is not None:
        entry, cheap = result.baseline, result.screened  # compared with the cheap runs, or the traced
        baseline = {
            "peak_bytes": int(entry.typical("peak_heap_bytes", cheap)),
            "growth_bytes_per_call": entry.typical("heap_growth", cheap),
            "rss_growth_bytes_per_call": entry.typical("rss_growth", cheap),
            "runs": len(entry.screen_runs if cheap else entry.runs),
            "recorded": entry.recorded,
            "peak_sites": [site.to_dict() for site in entry.peak_sites],
            "retained_sites": [site.to_dict() for site in entry.retained_sites],
        }
    return {
        "id": result.nodeid,
        "verdict": result.outcome.value,
        "reasons": [r.value for r in result.verdict.reasons],
        "fails": failure is not None,
        "failure": failure,
        "peak_bytes": int(result.median("peak_heap_bytes")),
        "growth_bytes_per_call": result.median("heap_growth"),
        "rss_peak_bytes": int(result.median("peak_rss_bytes")),
        "rss_growth_bytes_per_call": result.median("rss_growth"),
        "runs": len(result.records),
        "screened": result.screened,
        "backend": result.backend,
        "shape": result.shape.shape.value if result.shape else None,
        "warmup_hint": result.shape.warmup_hint if result.shape else None,
        "baseline": baseline,
        "message": verdict_message(result.verdict, result.notes),
        "notes": [note_text(n) for n in result.notes],
        "findings": [_finding(f) for f in result.verdict.findings],
        "spec": result.spec.to_dict(),
        "scaling": _scaling(result),
        "run_records": [record.to_dict() for record in result.records],
    }


def build_report(
    report: SessionReport, *, kept: Mapping[str, tuple[str | None, str | None]] | None = None
) -> dict[str, Any]:
    """The public document. ``kept`` gives each scenario's kept capture and flame graph
    ({scenario: (capture, flame graph)}, paths as reports show them) when the session wrote
    them; each scenario then names both (null for none)."""
    scenarios = [scenario_document(r, failure=report.failing.get(r.nodeid)) for r in report.results]
    if kept is not None:
        for scenario, result in zip(scenarios, report.results):
            scenario["capture"], scenario["flamegraph"] = kept.get(result.nodeid, (None, None))
    return {
        "memgate_version": __version__,
        "report_version": REPORT_VERSION,
        "backend": report.backend,
        "backend_reason": report.backend_reason,
        "alpha": report.alpha,
        "alpha_per_test": report.alpha_per_test,
        "suite_size": report.scenario_count,
        "suite_size_source": report.suite_size_source,
        "suite_ids": list(report.suite_ids),
        "provenance": dict(report.provenance or {}),
        "baseline_path": report.baseline_path,
        "baseline_written": [{"id": nodeid, "why": why} for nodeid, why in report.written],
        "baseline_not_written": [{"id": nodeid, "outcome": why} for nodeid, why in report.not_written],
        "environment": dict(report.environment),
        "scenarios": scenarios,
    }
