"""The ``--memgate-report`` document. Other tools read it: keep the documented names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..baseline import write_atomic

if TYPE_CHECKING:
    from ..session import GateSession, ScenarioResult

REPORT_VERSION = 1


def _finite(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None


def scenario_document(result: ScenarioResult) -> dict[str, Any]:
    baseline = None
    if result.baseline is not None:
        entry = result.baseline
        baseline = {
            "peak_bytes": int(entry.typical("peak_heap_bytes")),
            "growth_bytes_per_call": entry.typical("heap_growth"),
            "rss_growth_bytes_per_call": entry.typical("rss_growth"),
            "runs": len(entry.runs),
            "recorded": result.baseline.recorded,
        }
    findings = []
    for f in result.verdict.findings:
        c = f.comparison
        findings.append(
            {
                "metric": f.metric,
                "reason": f.reason,
                "regressed": f.regressed,
                "improved": f.improved,
                "ambiguous": f.ambiguous,
                "text": f.text,
                "baseline": _finite(c.baseline) if c else None,
                "current": _finite(c.current) if c else None,
                "delta": _finite(c.delta) if c else None,
                "delta_ci": [_finite(c.delta_low), _finite(c.delta_high)] if c else None,
                "ratio": _finite(c.ratio) if c else None,
                "ratio_ci": [_finite(c.ratio_low), _finite(c.ratio_high)] if c else None,
                "p_increase": _finite(c.p_increase) if c else None,
            }
        )
    return {
        "id": result.nodeid,
        "verdict": result.verdict.outcome.value,
        "reasons": list(result.verdict.reasons),
        "peak_bytes": int(result.median("peak_heap_bytes")),
        "growth_bytes_per_call": result.median("heap_growth"),
        "rss_peak_bytes": int(result.median("peak_rss_bytes")),
        "rss_growth_bytes_per_call": result.median("rss_growth"),
        "runs": len(result.records),
        "backend": result.backend,
        "shape": result.shape.shape.value if result.shape else None,
        "warmup_hint": result.shape.warmup_hint if result.shape else None,
        "baseline": baseline,
        "message": result.verdict.message,
        "notes": list(result.notes),
        "findings": findings,
        "spec": result.spec.to_dict(),
        "scaling": result.scaling,
        "run_records": [record.to_dict() for record in result.records],
    }


def build_report(session: GateSession) -> dict[str, Any]:
    return {
        "memgate_version": __version__,
        "report_version": REPORT_VERSION,
        "backend": session.backend.name,
        "backend_reason": session.backend.reason,
        "alpha": session.config.alpha,
        "alpha_per_test": session.policy.alpha,
        "baseline_path": str(session.baseline_path),
        "baseline_written": [{"id": nodeid, "why": why} for nodeid, why in session.written],
        "baseline_not_written": [{"id": nodeid, "outcome": why} for nodeid, why in session.not_written],
        "environment": session.fingerprint,
        "scenarios": [session.documents[nodeid] for nodeid in sorted(session.documents)],
    }


def write_report(path: Path, document: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(document, indent=2, sort_keys=True) + "\n")
