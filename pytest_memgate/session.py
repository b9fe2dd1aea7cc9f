"""``GateSession``: the one stateful object. Measures scenarios, decides, records, writes.

It knows nothing of pytest beyond a callable body and a node id, so the hooks stay thin
and the whole flow can be driven without pytest.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import __version__
from .backends import BackendChoice
from .baseline import (
    Baseline,
    BaselineEntry,
    environment_fingerprint,
    load_baseline,
    provenance,
    update_baseline,
)
from .config import GateConfig
from .marker import ScenarioSpec
from .metrics import ShapeReport, classify_shape, summarize_run
from .model import RunRecord, RunRequest, RunSummary
from .runner import run_isolated
from .stats import bonferroni
from .verdict import Outcome, Policy, Verdict, decide

Body = Callable[[], object]
RunFn = Callable[[Body, RunRequest, float], RunRecord]


def _default_run(body: Body, request: RunRequest, timeout_s: float) -> RunRecord:
    return run_isolated(body, request, timeout_s=timeout_s)


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    nodeid: str
    spec: ScenarioSpec
    backend: str
    records: tuple[RunRecord, ...]
    summaries: tuple[RunSummary, ...]
    verdict: Verdict
    shape: ShapeReport | None
    baseline: BaselineEntry | None
    notes: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.verdict.outcome in (Outcome.REGRESSION, Outcome.ERROR)

    def median(self, attribute: str) -> float:
        values = [getattr(s, attribute) for s in self.summaries]
        return float(statistics.median(values)) if values else 0.0


@dataclass
class GateSession:
    config: GateConfig
    backend: BackendChoice
    run: RunFn = _default_run
    scenario_count: int = 0
    results: dict[str, ScenarioResult] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    not_written: list[tuple[str, str]] = field(default_factory=list)
    _baseline: Baseline | None = None

    @property
    def baseline(self) -> Baseline:
        if self._baseline is None:
            self._baseline = load_baseline(self.config.baseline_path)
        return self._baseline

    @property
    def policy(self) -> Policy:
        c = self.config
        return Policy(
            alpha=bonferroni(c.alpha, self.scenario_count),
            peak_tolerance=c.peak_tolerance,
            peak_min_bytes=c.peak_min_bytes,
            growth_tolerance=float(c.growth_tolerance),
            rss_peak_tolerance=c.rss_peak_tolerance,
            rss_peak_min_bytes=c.rss_peak_min_bytes,
            rss_growth_tolerance=float(c.rss_growth_tolerance),
        )

    def measure(self, nodeid: str, spec: ScenarioSpec, body: Body) -> ScenarioResult:
        """Run ``body`` in isolated runs until the verdict is clear (or runs run out)."""
        entry = self.baseline.get(nodeid)
        notes: list[str] = []
        if entry is not None and entry.backend != self.backend.name:
            notes.append(
                f"baseline was measured with {entry.backend}, this run uses {self.backend.name}; "
                "not compared (record a baseline per backend)"
            )
            entry = None
        request = RunRequest(
            warmup=spec.warmup,
            iterations=spec.iterations,
            backend=self.backend.name,
            native_traces=spec.native_traces,
            trace_python_allocators=spec.trace_python_allocators,
        )
        timeout_s = spec.timeout or self.config.timeout
        policy = self.policy
        records: list[RunRecord] = []
        summaries: list[RunSummary] = []
        verdict: Verdict | None = None
        shape: ShapeReport | None = None
        max_runs = self.config.max_runs if entry is not None else self.config.runs
        while len(records) < max_runs:
            record = self.run(body, request, timeout_s)
            records.append(record)
            if not record.ok:
                verdict = _error_verdict(record, len(records))
                break
            summaries.append(summarize_run(record))
            if len(records) < self.config.runs:
                continue
            shape = classify_shape(records)
            verdict = decide(
                summaries,
                entry.runs if entry else None,
                spec,
                policy,
                trend_p=shape.trend_p,
                final=len(records) >= max_runs,
            )
            if not verdict.needs_more_runs:
                break
        assert verdict is not None
        if shape is not None and shape.warmup_hint is not None:
            notes.append(
                f"still warming up: the heap floor rose for part of the measured calls, then "
                f"levelled off; raise warmup to {shape.warmup_hint}"
            )
        result = ScenarioResult(
            nodeid,
            spec,
            self.backend.name,
            tuple(records),
            tuple(summaries),
            verdict,
            shape,
            entry,
            tuple(notes),
        )
        self.results[nodeid] = result
        return result

    def entries_to_write(self) -> Iterator[tuple[str, BaselineEntry]]:
        """Scenarios an update may write: measured, and neither regressed nor broken."""
        recorded = provenance(self.config.rootdir, __version__)
        environment = environment_fingerprint(self.backend.name)
        for nodeid, result in self.results.items():
            outcome = result.verdict.outcome
            if outcome in (Outcome.REGRESSION, Outcome.ERROR, Outcome.INCONCLUSIVE):
                self.not_written.append((nodeid, outcome.value))
                continue
            yield (
                nodeid,
                BaselineEntry(
                    backend=result.backend,
                    runs=result.summaries,
                    spec=result.spec.to_dict(),
                    recorded=recorded,
                    environment=environment,
                    peak_sites=result.records[0].peak_sites if result.records else (),
                    retained_sites=result.records[0].retained_sites if result.records else (),
                ),
            )

    def write_baseline(self) -> None:
        changes = dict(self.entries_to_write())
        if changes:
            update_baseline(self.config.baseline_path, changes, __version__)
            self.written.extend(sorted(changes))

    def exit_failed(self) -> bool:
        return any(result.failed for result in self.results.values())

    def report_document(self) -> dict[str, Any]:
        from .reports.json import build_report

        return build_report(self)


def _error_verdict(record: RunRecord, run_number: int) -> Verdict:
    first_line = record.error.strip().splitlines()[0] if record.error.strip() else record.status.value
    detail = record.error if record.status.value == "raised" else ""
    message = f"run {run_number} {record.status.value.replace('_', ' ')}: {first_line}"
    if detail:
        message += "\n\n" + detail.split("\n\n", 1)[-1]
    return Verdict(Outcome.ERROR, (record.status.value,), (), message)
