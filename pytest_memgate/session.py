"""``GateSession``: the one stateful object. Measures scenarios, decides, records, writes.

It knows nothing of pytest beyond a callable body and a node id, so the hooks stay thin
and the whole flow can be driven without pytest. What it keeps per scenario is plain,
serialisable data (the report document and the baseline candidate), so results measured
in pytest-xdist workers can be merged into the controller, which alone writes files.
"""

from __future__ import annotations

import fnmatch
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from . import __version__
from .backends import BackendChoice
from .baseline import (
    Baseline,
    BaselineEntry,
    BranchInfo,
    acceptance,
    current_branch,
    environment_fingerprint,
    expand_baseline_path,
    fingerprint_differences,
    load_baseline,
    matching_glob,
    provenance,
    update_baseline,
)
from .config import GateConfig
from .limits import MemoryLimit, resolve_memory_limit
from .marker import ScenarioSpec
from .metrics import ShapeReport, classify_shape, summarize_run
from .model import RunRecord, RunRequest, RunSummary
from .runner import run_isolated
from .stats import bonferroni, fit_power_law, predict_power_law
from .verdict import (
    COMPARISONS,
    Outcome,
    Policy,
    Verdict,
    decide,
    judge_scaling,
    look_schedule,
    settled,
)

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
    scaling: dict[str, Any] | None = None  # set on the last size of a sizes=[...] scenario

    @property
    def failed(self) -> bool:
        return self.verdict.outcome in (Outcome.REGRESSION, Outcome.ERROR)

    def median(self, attribute: str) -> float:
        values = [getattr(s, attribute) for s in self.summaries]
        return float(statistics.median(values)) if values else 0.0


@dataclass(frozen=True, slots=True)
class Candidate:
    """What a baseline update could write for one scenario, and the outcome that decides it."""

    outcome: Outcome
    entry: BaselineEntry

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome.value, "entry": self.entry.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        return cls(Outcome(data["outcome"]), BaselineEntry.from_dict(data["entry"]))


_WRITABLE = (Outcome.PASS, Outcome.NEW, Outcome.IMPROVED)
_ACCEPTABLE = (Outcome.REGRESSION, Outcome.INCONCLUSIVE, *_WRITABLE)


@dataclass
class GateSession:
    config: GateConfig
    backend: BackendChoice
    run: RunFn = _default_run
    environ: dict[str, str] | None = None  # None: the process environment
    scenario_count: int = 0
    collected: set[str] = field(default_factory=set)
    deselected: set[str] = field(default_factory=set)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    candidates: dict[str, Candidate] = field(default_factory=dict)
    written: list[tuple[str, str]] = field(default_factory=list)  # (nodeid, why)
    # sizes=[...] scenarios: family -> size -> (nodeid, heap peaks of the runs)
    families: dict[str, dict[int, tuple[str, tuple[int, ...]]]] = field(default_factory=dict)
    not_written: list[tuple[str, str]] = field(default_factory=list)
    _baseline: Baseline | None = None

    # --- environment and baseline ---------------------------------------------------------

    @cached_property
    def fingerprint(self) -> dict[str, Any]:
        return environment_fingerprint(self.backend.name, self.config.fingerprint_packages)

    @cached_property
    def baseline_path(self) -> Path:
        return expand_baseline_path(self.config.baseline_path, self.fingerprint)

    @property
    def baseline(self) -> Baseline:
        if self._baseline is None:
            self._baseline = load_baseline(self.baseline_path)
        return self._baseline

    @cached_property
    def memory_limit(self) -> MemoryLimit:
        return resolve_memory_limit(self.config.memory_limit)

    def resolve_spec(self, nodeid: str, spec: ScenarioSpec) -> ScenarioSpec:
        """Session defaults filled in, and budgets given as a share of the memory limit in
        bytes (ConfigError without one)."""
        if spec.trace_python_allocators is None:
            spec = replace(spec, trace_python_allocators=self.config.trace_python_allocators)
        return spec.with_limit(self.memory_limit.limit_bytes, nodeid)

    def hard_cap(self, spec: ScenarioSpec) -> int | None:
        """RSS growth at which a run is stopped before it can take the machine down."""
        cap = self.config.hard_cap
        limit = self.memory_limit.limit_bytes
        if cap == "off":
            return None
        if isinstance(cap, int):
            return cap
        if isinstance(cap, float):
            return int(cap * limit) if limit is not None else None
        # Far past the budget, not merely over it: RSS also holds the tracker and the allocator.
        candidates = [
            max(4 * b, b + 512 * 1024**2) for b in (spec.max_peak, spec.max_rss) if isinstance(b, int)
        ]
        if limit is not None:
            candidates.append(int(0.9 * limit))
        return min(candidates) if candidates else None

    @cached_property
    def branch(self) -> BranchInfo:
        return current_branch(self.config.rootdir, self.environ)

    def update_reason(self) -> str | None:
        """Why this run may write the baseline, or ``None``: feature branches never write."""
        if self.config.update:
            return "--memgate-update"
        glob = matching_glob(self.branch.name, self.config.update_branches)
        if glob is not None:
            return f"branch {self.branch.name!r} ({self.branch.source}) matches update_branches {glob!r}"
        return None

    @property
    def looks(self) -> list[int]:
        """Run counts at which a scenario with a baseline is judged (see ``look_schedule``)."""
        c = self.config
        return look_schedule(c.runs, c.max_runs, first=c.min_runs)

    @property
    def recorded_runs(self) -> int:
        """Runs a scenario gets when it is written into the baseline."""
        return min(self.config.baseline_runs, self.config.max_runs)

    def looks_for(self, nodeid: str, compared: bool, sized: bool = False) -> list[int]:
        """Looks for one scenario. Runs that may be written into the baseline are never cut
        short: the baseline's spread is what every later comparison is measured against,
        and a baseline of few runs is what makes a gate weak (see ``baseline_runs``). A size
        of a ``sizes=[...]`` family takes at least ``runs``: the power law is fitted over
        every run of every size, and one run per size leaves two sizes with no error left."""
        c = self.config
        looks = self.looks if compared else [c.runs]
        if sized:
            looks = [look for look in looks if look >= c.runs] or [c.runs]
        if self.update_reason() is not None or self.accepted(nodeid):
            looks = sorted({max(look, self.recorded_runs) for look in looks})
        return looks

    @property
    def policy(self) -> Policy:
        """Thresholds, and the level of each single test: the session's false-alarm rate
        shared (Bonferroni) over scenarios, the four metrics and every look the adaptive
        runs may take, so that neither many scenarios nor adding runs raises it."""
        c = self.config
        return Policy(
            alpha=bonferroni(c.alpha, max(self.scenario_count, 1) * COMPARISONS * len(self.looks)),
            peak_tolerance=c.peak_tolerance,
            peak_min_bytes=c.peak_min_bytes,
            growth_tolerance=float(c.growth_tolerance),
            rss_peak_tolerance=c.rss_peak_tolerance,
            rss_peak_min_bytes=c.rss_peak_min_bytes,
            rss_growth_tolerance=float(c.rss_growth_tolerance),
        )

    def comparable_entry(
        self, nodeid: str, spec: ScenarioSpec | None = None
    ) -> tuple[BaselineEntry | None, list[str], bool]:
        """(entry to compare with, notes, environment error) under the mismatch policy."""
        entry = self.baseline.get(nodeid)
        if entry is None:
            return None, [], False
        if spec is not None:
            traced = entry.spec.get("trace_python_allocators", True)
            if traced != spec.trace_python_allocators:
                return (
                    None,
                    [
                        f"baseline was measured with trace_python_allocators={traced}, this run uses "
                        f"{spec.trace_python_allocators}; not compared (small objects are counted "
                        "differently); re-record the baseline"
                    ],
                    False,
                )
        if entry.backend != self.backend.name:
            return (
                None,
                [
                    f"baseline was measured with {entry.backend}, this run uses {self.backend.name}; "
                    "not compared (record a baseline per backend, e.g. baseline = "
                    "'.memgate/{backend}.json')"
                ],
                False,
            )
        differences = fingerprint_differences(entry.environment, self.fingerprint)
        if not differences:
            return entry, [], False
        what = ", ".join(differences)
        policy = self.config.env_mismatch
        if policy == "warn":
            return entry, [f"baseline environment differs ({what}); compared anyway"], False
        if policy == "fail":
            return None, [f"baseline environment differs ({what}) and env_mismatch = 'fail'"], True
        return (
            None,
            [
                f"baseline environment differs ({what}); not compared (env_mismatch = 'skip'). "
                "Re-record on this environment, or keep one baseline per environment with a path "
                "such as '.memgate/{python}-{machine}.json'"
            ],
            False,
        )

    # --- measuring ------------------------------------------------------------------------

    def measure(
        self, nodeid: str, spec: ScenarioSpec, body: Body, *, family: tuple[str, int] | None = None
    ) -> ScenarioResult:
        """Run ``body`` in isolated runs until the verdict is clear (or runs run out).

        ``family`` is (scenario family, payload size) for ``sizes=[...]`` scenarios: once
        every size of a family is measured, how the peak scales with size is judged too.
        """
        spec = self.resolve_spec(nodeid, spec)
        entry, notes, env_error = self.comparable_entry(nodeid, spec)
        least = self.recorded_runs
        if entry is not None and len(entry.runs) < least and self.update_reason() is None:
            notes.append(
                f"the baseline holds {len(entry.runs)} run(s) of this scenario, fewer than "
                f"baseline_runs = {least}; its spread is known only roughly, which makes small "
                "regressions hard to prove: re-record it with --memgate-update"
            )
        request = RunRequest(
            warmup=spec.warmup,
            iterations=spec.iterations,
            backend=self.backend.name,
            native_traces=spec.native_traces,
            trace_python_allocators=bool(spec.trace_python_allocators),
            hard_cap_bytes=self.hard_cap(spec),
            extra={"rootdir": str(self.config.rootdir)},
        )
        timeout_s = spec.timeout or self.config.timeout
        policy = self.policy
        records: list[RunRecord] = []
        summaries: list[RunSummary] = []
        verdict: Verdict | None = None
        shape: ShapeReport | None = None
        looks = self.looks_for(nodeid, entry is not None, sized=family is not None)
        max_runs = looks[-1]
        while len(records) < max_runs:
            record = self.run(body, request, timeout_s)
            records.append(record)
            if not record.ok:
                verdict = _error_verdict(record, len(records))
                break
            summaries.append(summarize_run(record))
            if len(records) not in looks:
                continue
            shape = classify_shape(records)
            last = len(records) >= max_runs
            verdict = decide(
                summaries, entry.runs if entry else None, spec, policy, trend_p=shape.trend_p, final=last
            )
            if settled(verdict, len(records), self.config.runs, last):
                break
        assert verdict is not None
        if env_error and verdict.outcome is not Outcome.ERROR:
            verdict = Verdict(Outcome.ERROR, ("environment",), verdict.findings, notes[-1])
        if shape is not None and shape.warmup_hint is not None:
            notes.append(
                "still warming up: the heap floor rose for part of the measured calls, then "
                f"levelled off; raise warmup to {shape.warmup_hint}"
            )
        scaling = None
        if family is not None and verdict.outcome is not Outcome.ERROR:
            verdict, scaling = self._judge_family(nodeid, spec, family, summaries, verdict)
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
            scaling,
        )
        self._keep(result)
        return result

    def _judge_family(
        self,
        nodeid: str,
        spec: ScenarioSpec,
        family: tuple[str, int],
        summaries: list[RunSummary],
        verdict: Verdict,
    ) -> tuple[Verdict, dict[str, Any] | None]:
        name, size = family
        members = self.families.setdefault(name, {})
        members[size] = (nodeid, tuple(s.peak_heap_bytes for s in summaries))
        if set(members) != set(spec.sizes):
            return verdict, None
        ordered = sorted(members.items())
        new = fit_power_law(
            [n for n, (_, peaks) in ordered for _ in peaks], [p for _, (_, peaks) in ordered for p in peaks]
        )
        stored = [(n, self.comparable_entry(member, spec)[0]) for n, (member, _) in ordered]
        old = None
        if all(entry is not None for _, entry in stored):
            pairs = [(n, r.peak_heap_bytes) for n, entry in stored if entry for r in entry.runs]
            old = fit_power_law([n for n, _ in pairs], [p for _, p in pairs])
        findings = judge_scaling(new, old, spec, self.policy, memory_limit=self.memory_limit.limit_bytes)
        scaling = {
            "family": name,
            "sizes": sorted(members),
            "exponent": new.exponent,
            "exponent_ci": [new.low, new.high],
            "baseline_exponent": old.exponent if old is not None else None,
            "findings": [f.text for f in findings],
        }
        if spec.production_size is not None:
            point, upper = predict_power_law(new, spec.production_size)
            scaling["production_size"] = spec.production_size
            scaling["production_peak_bytes"] = point
            scaling["production_peak_upper_bytes"] = upper
        regressed = [f for f in findings if f.regressed]
        all_findings = verdict.findings + tuple(findings)
        if not regressed:
            return replace(verdict, findings=all_findings), scaling
        reasons = tuple(dict.fromkeys((*verdict.reasons, *(f.reason for f in regressed))))
        text = "; ".join(f.text for f in regressed)
        message = text if verdict.outcome is not Outcome.REGRESSION else f"{verdict.message}; {text}"
        return Verdict(Outcome.REGRESSION, reasons, all_findings, message), scaling

    def _keep(self, result: ScenarioResult) -> None:
        from .reports.json import scenario_document

        self.documents[result.nodeid] = scenario_document(result)
        if result.summaries and result.verdict.outcome is not Outcome.ERROR:
            first = result.records[0]
            self.candidates[result.nodeid] = Candidate(
                result.verdict.outcome,
                BaselineEntry(
                    backend=result.backend,
                    runs=result.summaries,
                    spec=result.spec.to_dict(),
                    environment=self.fingerprint,
                    peak_sites=first.peak_sites,
                    retained_sites=first.retained_sites,
                ),
            )

    # --- xdist: workers export, the controller merges ------------------------------------

    def export(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "candidates": {k: c.to_dict() for k, c in self.candidates.items()},
            "collected": sorted(self.collected),
            "scenario_count": self.scenario_count,
        }

    def merge(self, payload: dict[str, Any]) -> None:
        self.documents.update(payload["documents"])
        self.candidates.update({k: Candidate.from_dict(v) for k, v in payload["candidates"].items()})
        self.collected.update(payload["collected"])
        self.scenario_count = max(self.scenario_count, int(payload["scenario_count"]))

    # --- writing --------------------------------------------------------------------------

    def accepted(self, nodeid: str) -> bool:
        return any(fnmatch.fnmatchcase(nodeid, pattern) for pattern in self.config.accept)

    def write_baseline(self) -> None:
        """Write what this run may write: updates on request or on an update branch, and
        intended increases that were accepted with a reason. Regressions never slip in."""
        reason = self.update_reason()
        changes: dict[str, BaselineEntry] = {}
        recorded = provenance(self.config.rootdir, __version__, self.branch.name)
        for nodeid, candidate in sorted(self.candidates.items()):
            accepted = self.accepted(nodeid) and candidate.outcome in _ACCEPTABLE
            if accepted:
                previous = self.baseline.get(nodeid)
                stamp = dict(recorded)
                stamp["accepted"] = acceptance(self.config.reason, previous)
                why = f"accepted ({self.config.reason})"
            elif reason is not None and candidate.outcome in _WRITABLE:
                stamp, why = recorded, reason
            else:
                if reason is not None:
                    self.not_written.append((nodeid, candidate.outcome.value))
                continue
            changes[nodeid] = replace(candidate.entry, recorded=stamp)
            self.written.append((nodeid, why))
        if reason is not None:
            for nodeid, document in sorted(self.documents.items()):
                if document["verdict"] == Outcome.ERROR.value:
                    self.not_written.append((nodeid, "error"))
        if changes:
            self._baseline = update_baseline(self.baseline_path, changes, __version__)

    def stale_entries(self) -> list[str]:
        """Baseline scenarios whose test is gone: their file no longer exists, or their file
        was collected in this session without them (and they were not deselected)."""
        if not self.collected:
            return []
        files = {nodeid.split("::", 1)[0] for nodeid in self.collected}
        stale = []
        for nodeid in self.baseline.entries:
            if nodeid in self.collected or nodeid in self.deselected:
                continue
            file = nodeid.split("::", 1)[0]
            if file in files or not (self.config.rootdir / file).exists():
                stale.append(nodeid)
        return sorted(stale)

    def report_document(self) -> dict[str, Any]:
        from .reports.json import build_report

        return build_report(self)


def _error_verdict(record: RunRecord, run_number: int) -> Verdict:
    text = record.error.strip()
    first_line = text.splitlines()[0] if text else record.status.value
    message = f"run {run_number} {record.status.value.replace('_', ' ')}: {first_line}"
    if record.status.value == "raised" and "\n\n" in text:
        message += "\n\n" + text.split("\n\n", 1)[1]
    return Verdict(Outcome.ERROR, (record.status.value,), (), message)
