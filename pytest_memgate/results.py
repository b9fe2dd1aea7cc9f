"""The typed result model: what the gate concluded about each scenario, and why.

The session builds these objects, xdist workers ship them (``to_dict``/``from_dict``),
and every renderer (terminal, JSON report, CLI) reads them. They hold figures and
decisions only; the sentences people read are written in ``reports/``. Nothing here
imports numpy or scipy, so the command line and a plain pytest run stay quick.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .baseline import BaselineEntry
from .findings import (
    NOISE_LIMIT,
    BudgetCheck,
    Comparison,
    Evidence,
    ExponentFit,
    Finding,
    LevelTest,
    Metric,
    ProductionCheck,
    RateTest,
    Reason,
    ScalingTest,
    number,
)
from .marker import ScenarioSpec
from .model import RunRecord, RunSummary, Shape, ShapeReport
from .validate import as_text

# The findings' names are part of this model: ``from pytest_memgate.results import Finding``.
__all__ = [
    "NOISE_LIMIT",
    "BudgetCheck",
    "Comparison",
    "Evidence",
    "ExponentFit",
    "Finding",
    "LevelTest",
    "Metric",
    "Note",
    "NoteKind",
    "Outcome",
    "ProductionCheck",
    "RateTest",
    "Reason",
    "Scaling",
    "ScalingTest",
    "ScenarioResult",
    "SessionReport",
    "Shape",
    "ShapeReport",
    "Verdict",
]


class Outcome(str, enum.Enum):
    PASS = "pass"
    REGRESSION = "regression"
    IMPROVED = "improved"
    NEW = "new"
    ERROR = "error"
    INCONCLUSIVE = "inconclusive"
    SKIPPED = "skipped"  # a baseline exists but was not comparable (environment, backend, mode)


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    reasons: tuple[Reason, ...] = ()
    findings: tuple[Finding, ...] = ()
    needs_more_runs: bool = False
    error: str = ""  # how the failing run ended (outcome ERROR)
    error_run: int = 0  # which run failed (1-based; 0 when no run did)

    @property
    def regressed(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.regressed)

    @property
    def suspects(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.suspected)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "reasons": [r.value for r in self.reasons],
            "findings": [f.to_dict() for f in self.findings],
            "needs_more_runs": self.needs_more_runs,
            "error": self.error,
            "error_run": self.error_run,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(
            Outcome(data["outcome"]),
            tuple(Reason(r) for r in data["reasons"]),
            tuple(Finding.from_dict(f) for f in data["findings"]),
            bool(data["needs_more_runs"]),
            str(data["error"]),
            int(data["error_run"]),
        )


class Doubt(str, enum.Enum):
    """Why a cheap first look is not a clear pass."""

    UNCLEAR = "unclear"  # the look itself: more runs wanted, or a change seen
    IMPROVEMENT = "improvement"  # a heap figure fell past its tolerance: full runs record it
    BLOCKS = "blocks"  # pymalloc's block count could hide growth the malloc floor cannot see


@dataclass(frozen=True, slots=True)
class ScreenDoubt:
    kind: Doubt
    finding: Finding | None = None  # IMPROVEMENT: the heap figure that fell
    blocks_per_call: float = 0.0  # BLOCKS: the upper end of the blocks a call over the baseline's
    bytes_per_call: float = 0.0  # BLOCKS: what those blocks could hold at pymalloc's largest size


class NoteKind(str, enum.Enum):
    TRACE_MODE = "trace_mode"  # baseline measured with the other trace_python_allocators
    BACKEND = "backend"  # baseline measured with another backend
    ENVIRONMENT = "environment"  # baseline from another environment
    SMALL_BASELINE = "small_baseline"  # fewer baseline runs than baseline_runs
    WARMUP = "warmup"  # the floor was still rising through part of the measured calls
    THREADS = "threads"  # threads alive in the pytest process do not exist in the child
    SCREENED = "screened"  # passed on the cheap first look: heap figures count arenas
    FUTILITY = "futility"  # runs stopped early: every open estimate sat well inside its tolerance


@dataclass(frozen=True, slots=True)
class Note:
    """Something the user should know about one scenario; ``reports.words`` words it."""

    kind: NoteKind
    old: str = ""  # the baseline's side (backend, trace mode)
    new: str = ""  # this run's side
    differences: tuple[tuple[str, str, str], ...] = ()  # (what, baseline's, this run's)
    policy: str = ""  # env_mismatch in force
    count: int = 0  # runs in the baseline, or the warm-up to use
    wanted: int = 0  # baseline_runs
    names: tuple[str, ...] = ()  # thread names

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "old": self.old,
            "new": self.new,
            "differences": [list(d) for d in self.differences],
            "policy": self.policy,
            "count": self.count,
            "wanted": self.wanted,
            "names": list(self.names),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Note:
        return cls(
            NoteKind(data["kind"]),
            str(data["old"]),
            str(data["new"]),
            tuple((str(a), str(b), str(c)) for a, b, c in data["differences"]),
            str(data["policy"]),
            int(data["count"]),
            int(data["wanted"]),
            tuple(str(n) for n in data.get("names", ())),
        )


@dataclass(frozen=True, slots=True)
class Scaling:
    """How a ``sizes=[...]`` family's peak grows with payload size (set on its last size)."""

    family: str
    sizes: tuple[int, ...]
    fit: ExponentFit
    baseline_exponent: float | None
    production_size: int | None = None
    production_peak_bytes: float | None = None
    production_peak_upper_bytes: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "sizes": list(self.sizes),
            "fit": [self.fit.exponent, self.fit.low, self.fit.high],
            "baseline_exponent": self.baseline_exponent,
            "production_size": self.production_size,
            "production_peak_bytes": self.production_peak_bytes,
            "production_peak_upper_bytes": self.production_peak_upper_bytes,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scaling:
        def optional(key: str) -> float | None:
            return None if data.get(key) is None else float(data[key])

        size = data.get("production_size")
        return cls(
            str(data["family"]),
            tuple(int(n) for n in data["sizes"]),
            ExponentFit(*(number(v) for v in data["fit"])),
            optional("baseline_exponent"),
            None if size is None else int(size),
            optional("production_peak_bytes"),
            optional("production_peak_upper_bytes"),
        )


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """Everything the gate measured and concluded about one scenario."""

    nodeid: str
    spec: ScenarioSpec
    backend: str
    records: tuple[RunRecord, ...]
    summaries: tuple[RunSummary, ...]
    verdict: Verdict
    shape: ShapeReport | None = None
    baseline: BaselineEntry | None = None  # the entry compared with; None when not compared
    notes: tuple[Note, ...] = ()
    scaling: Scaling | None = None
    family: str | None = None  # a sizes=[...] scenario's family id
    size: int | None = None  # and its payload size
    capture: str | None = None  # memray's capture of the last run, where it was kept (absolute)
    screen: tuple[RunSummary, ...] = ()  # cheap runs taken (the first look, or for the baseline)
    screened: bool = False  # the verdict is the first look's: ``records`` is its one cheap run

    @property
    def outcome(self) -> Outcome:
        return self.verdict.outcome

    @property
    def measured(self) -> bool:
        """Whether figures exist: an error before any successful run leaves none."""
        return bool(self.summaries) and self.outcome is not Outcome.ERROR

    def median(self, attribute: str) -> float:
        values = sorted(float(getattr(s, attribute)) for s in self.summaries)
        if not values:
            return 0.0
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2

    def to_dict(self) -> dict[str, Any]:
        shape = self.shape
        return {
            "nodeid": self.nodeid,
            "spec": self.spec.to_dict(),
            "backend": self.backend,
            "records": [r.to_dict() for r in self.records],
            "summaries": [s.to_dict() for s in self.summaries],
            "verdict": self.verdict.to_dict(),
            "shape": None
            if shape is None
            else {"shape": shape.shape.value, "trend_p": shape.trend_p, "warmup_hint": shape.warmup_hint},
            "baseline": None if self.baseline is None else self.baseline.to_dict(),
            "notes": [n.to_dict() for n in self.notes],
            "scaling": None if self.scaling is None else self.scaling.to_dict(),
            "family": self.family,
            "size": self.size,
            "capture": self.capture,
            "screen": [s.to_dict() for s in self.screen],
            "screened": self.screened,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScenarioResult:
        shape = data.get("shape")
        baseline = data.get("baseline")
        scaling = data.get("scaling")
        return cls(
            nodeid=str(data["nodeid"]),
            spec=ScenarioSpec.from_dict(data["spec"]),
            backend=str(data["backend"]),
            records=tuple(RunRecord.from_dict(r) for r in data["records"]),
            summaries=tuple(RunSummary.from_dict(s) for s in data["summaries"]),
            verdict=Verdict.from_dict(data["verdict"]),
            shape=None
            if shape is None
            else ShapeReport(Shape(shape["shape"]), float(shape["trend_p"]), shape["warmup_hint"]),
            baseline=None if baseline is None else BaselineEntry.from_dict(baseline),
            notes=tuple(Note.from_dict(n) for n in data["notes"]),
            scaling=None if scaling is None else Scaling.from_dict(scaling),
            family=None if data.get("family") is None else str(data["family"]),
            size=None if data.get("size") is None else int(data["size"]),
            capture=None if data.get("capture") is None else as_text(data["capture"], "capture"),
            screen=tuple(RunSummary.from_dict(s) for s in data.get("screen", ())),
            screened=bool(data.get("screened", False)),
        )


@dataclass(frozen=True, slots=True)
class SessionReport:
    """What a whole session found and did: the input of every renderer, which do no I/O."""

    backend: str
    backend_reason: str
    alpha: float  # the session's false-alarm rate
    alpha_per_test: float
    scenario_count: int  # the suite's scenarios, which the false-alarm rate is shared over
    comparisons: int  # metrics compared with the baseline
    looks: int  # looks the adaptive runs may take
    baseline_path: str
    memory_limit_bytes: int | None
    memory_limit_source: str
    hard_cap_bytes: int | None  # per measuring child, without a scenario's budgets
    hard_cap_source: str
    environment: Mapping[str, Any]
    results: tuple[ScenarioResult, ...]
    written: tuple[tuple[str, str], ...] = ()  # (scenario, why)
    not_written: tuple[tuple[str, str], ...] = ()  # (scenario, its outcome)
    update_reason: str | None = None  # why this run may write the baseline
    update_held: str | None = None  # why an update branch's run outside CI does not write it
    branch: str | None = None
    branch_source: str = ""
    update_branches: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()  # baseline scenarios whose test is gone
    files: tuple[tuple[str, str], ...] = ()  # (what, path) written this session
    errors: tuple[str, ...] = ()  # writes that failed
    suite_size_source: str = "collected"  # "collected" before deselection, "configured" or "baseline"
    scenarios_collected: int = 0  # memload scenarios this run collected, before deselection
    baseline_set_aside: tuple[str, str] | None = None  # (why, where): an unreadable baseline moved
    provenance: Mapping[str, Any] | None = None  # commit and dirty, for the report
    suite_ids: tuple[str, ...] = ()  # the scenarios collected before deselection
    # scenario -> why the gate fails its test (a ``failing.Failure`` value; ``failing.scenario_failure``)
    failing: Mapping[str, str] = field(default_factory=dict)
