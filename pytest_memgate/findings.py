"""Findings: one metric's conclusion about a scenario, and the evidence it rests on.

Each finding carries a typed piece of evidence (a test against the baseline, a budget
check, a scaling fit) with its codec for the wire between xdist workers. ``verdict.py``
makes them; ``reports/words.py`` words them. Nothing here imports numpy or scipy.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, TypeAlias


class Metric(str, enum.Enum):
    HEAP_PEAK = "heap peak"
    HEAP_GROWTH = "heap growth"
    RSS_PEAK = "RSS peak"
    RSS_GROWTH = "RSS growth"
    PEAK_SCALING = "peak scaling"
    PRODUCTION_PEAK = "production peak"


class Reason(str, enum.Enum):
    """Why a scenario failed; the run-failure reasons mirror ``RunStatus`` values."""

    PEAK = "peak"
    GROWTH = "growth"
    BUDGET = "budget"
    SCALING = "scaling"
    ENVIRONMENT = "environment"
    RAISED = "raised"
    CRASHED = "crashed"
    KILLED = "killed"
    TIMED_OUT = "timed_out"
    HARD_CAP = "hard_cap"


# The wire format between processes is Python's json, which keeps NaN and infinity
# (an interval with no data is infinite); the public report maps them to null itself.
number = float


@dataclass(frozen=True, slots=True)
class Comparison:
    """Current against baseline for one metric.

    ``delta`` is on the metric's own scale (bytes, or bytes per call); for levels
    ``ratio`` is the multiplicative effect and ``ratio_low``/``ratio_high`` its interval.
    """

    baseline: float  # typical baseline value (median)
    current: float  # typical current value (median)
    delta: float
    delta_low: float
    delta_high: float
    ratio: float
    ratio_low: float
    ratio_high: float
    p_increase: float  # one-sided: evidence that current > baseline
    p_decrease: float  # one-sided: evidence that current < baseline
    n_baseline: int
    n_current: int
    insufficient_data: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Comparison:
        return cls(
            baseline=number(data["baseline"]),
            current=number(data["current"]),
            delta=number(data["delta"]),
            delta_low=number(data["delta_low"]),
            delta_high=number(data["delta_high"]),
            ratio=number(data["ratio"]),
            ratio_low=number(data["ratio_low"]),
            ratio_high=number(data["ratio_high"]),
            p_increase=number(data["p_increase"]),
            p_decrease=number(data["p_decrease"]),
            n_baseline=int(data["n_baseline"]),
            n_current=int(data["n_current"]),
            insufficient_data=bool(data.get("insufficient_data", False)),
        )


# --- evidence: what each finding rests on ------------------------------------------------

# A single run whose floor scatters more than this many times the baseline runs' did is not
# a pass on its own (``unvouched``).
NOISE_LIMIT = 2.0
# A finding still open after ``Policy.futility_runs`` runs whose estimate is under this share
# of its practical size stops the runs as a pass (``Finding.futile``).
FUTILITY_SHARE = 0.25


def unvouched(c: Comparison, noise: float) -> bool:
    """A single run whose floor scatters far more than the baseline runs' did (a busier or
    noisier machine) cannot vouch for a pass: a one-run look lends it the baseline's
    spread, which it does not have. One more run lets its own spread count. The verdict
    holds such a finding open; the words say why."""
    return c.n_current == 1 and noise > NOISE_LIMIT


@dataclass(frozen=True, slots=True)
class LevelTest:
    """A peak against the baseline's: a one-sided test on log peaks and a practical size."""

    kind: ClassVar[str] = "level"
    comparison: Comparison
    alpha: float
    tolerance: float  # relative increase that counts
    min_bytes: float  # absolute increase that counts
    spread: str = "pooled"  # "pooled" (one spread for both sides), "larger" or "welch"
    unseen_p: float = 0.0  # chance that odd runs explain runs off the baseline's main level
    unseen_alpha: float = 1.0  # what that chance must fall to before a regression is proven
    noise: float = 0.0  # the current runs' within-run scatter over the baseline's (0: not measured)
    unseen_seen: int = 0  # baseline runs as high as every current run (when ``unseen_p`` > 0)
    unseen_runs: int = 0  # current runs, all that high, that would rule odd runs out (0: none needed)
    unseen_high: int = 0  # current runs above the baseline's main level (when ``unseen_p`` > 0)

    @property
    def fell(self) -> bool:
        """The estimate alone is a fall past the practical size (an improvement once proven)."""
        c = self.comparison
        return 1 - c.ratio > self.tolerance and -c.delta > self.min_bytes


@dataclass(frozen=True, slots=True)
class RateTest:
    """Growth per call against the baseline's, on per-run slopes."""

    kind: ClassVar[str] = "rate"
    comparison: Comparison
    alpha: float
    needed: float  # bytes per call the increase must exceed
    pooled: bool  # one spread for both sides (pooled or the larger of the two) rather than Welch
    spread: str = ""  # "pooled", "larger" or "welch" ("" in older reports: read ``pooled``)
    noise: float = 0.0  # the current runs' within-run scatter over the baseline's (0: not measured)

    @property
    def fell(self) -> bool:
        """The estimate alone is a fall past the practical size (an improvement once proven)."""
        return -self.comparison.delta > self.needed


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """A figure against an absolute budget from the marker."""

    kind: ClassVar[str] = "budget"
    name: str  # the marker argument: max_peak, max_rss, max_growth
    limit: float
    value: float  # median over the runs
    runs: int
    trend_p: float | None = None  # growth budgets: one-sided p that growth is over the budget
    alpha: float | None = None  # growth budgets: the level that p must fall below


@dataclass(frozen=True, slots=True)
class ExponentFit:
    exponent: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class ScalingTest:
    """How the peak grows with payload size, against the baseline's exponent or a budget."""

    kind: ClassVar[str] = "scaling"
    fit: ExponentFit
    baseline_exponent: float | None = None
    p: float | None = None
    alpha: float | None = None
    tolerance: float | None = None
    max_exponent: float | None = None


@dataclass(frozen=True, slots=True)
class ProductionCheck:
    """The peak extrapolated to the production payload size, against the limits that bind."""

    kind: ClassVar[str] = "production"
    fit: ExponentFit
    size: int
    point: float
    upper: float
    limits: tuple[tuple[str, int], ...]  # (name, bytes): max_peak, the memory limit


Evidence: TypeAlias = LevelTest | RateTest | BudgetCheck | ScalingTest | ProductionCheck
_EVIDENCE: dict[str, type[Any]] = {
    cls.kind: cls for cls in (LevelTest, RateTest, BudgetCheck, ScalingTest, ProductionCheck)
}


def _evidence_to_dict(evidence: Evidence) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": evidence.kind}
    for f in fields(evidence):
        value = getattr(evidence, f.name)
        if isinstance(value, Comparison):
            value = value.to_dict()
        elif isinstance(value, ExponentFit):
            value = [value.exponent, value.low, value.high]
        elif isinstance(value, tuple):
            value = [list(item) for item in value]
        data[f.name] = value
    return data


def _evidence_from_dict(data: Mapping[str, Any]) -> Evidence:
    cls = _EVIDENCE[str(data["kind"])]
    values: dict[str, Any] = {}
    for f in fields(cls):
        raw: Any = data.get(f.name)
        if f.name not in data and f.default is not MISSING:  # a field newer than the document
            values[f.name] = f.default
        elif f.name == "comparison":
            values[f.name] = Comparison.from_dict(raw)
        elif f.name == "fit":
            values[f.name] = ExponentFit(*(number(v) for v in raw))
        elif f.name == "limits":
            values[f.name] = tuple((str(name), int(size)) for name, size in raw)
        elif f.name in ("name",):
            values[f.name] = str(raw)
        elif f.name in ("runs", "size", "unseen_seen", "unseen_runs", "unseen_high"):
            values[f.name] = int(raw)
        elif f.name == "pooled":
            values[f.name] = bool(raw)
        elif f.name == "spread":
            values[f.name] = str(raw)
        elif raw is None and f.name in (
            "baseline_exponent",
            "p",
            "alpha",
            "tolerance",
            "max_exponent",
            "trend_p",
        ):
            values[f.name] = None
        else:
            values[f.name] = number(raw)
    result: Evidence = cls(**values)
    return result


@dataclass(frozen=True, slots=True)
class Finding:
    """One metric's conclusion, with the evidence it rests on."""

    metric: Metric
    reason: Reason
    evidence: Evidence
    regressed: bool
    improved: bool = False
    ambiguous: bool = False  # more runs could change the answer
    past_tolerance: bool = False  # the estimate alone is past the practical tolerance

    @property
    def comparison(self) -> Comparison | None:
        return self.evidence.comparison if isinstance(self.evidence, (LevelTest, RateTest)) else None

    @property
    def suspected(self) -> bool:
        """Past the tolerance without enough evidence yet: news even when not proven."""
        return self.ambiguous and self.past_tolerance

    @property
    def futile(self) -> bool:
        """Open only because its interval still reaches the practical size, while the estimate
        sits under ``FUTILITY_SHARE`` of it: more runs would most likely end in the pass
        the last look gives such a finding anyway, so they are not worth their cost.
        Stopping there can only turn a would-be regression into a pass, never the reverse:
        it costs power (measured in the calibration tests), not false alarms."""
        evidence = self.evidence
        if not self.ambiguous or self.past_tolerance or self.regressed:
            return False
        if isinstance(evidence, (LevelTest, RateTest)) and unvouched(evidence.comparison, evidence.noise):
            return False
        if isinstance(evidence, LevelTest):
            c = evidence.comparison
            return (
                c.ratio - 1 <= FUTILITY_SHARE * evidence.tolerance
                or c.delta <= FUTILITY_SHARE * evidence.min_bytes
            )
        if isinstance(evidence, RateTest):
            return evidence.comparison.delta <= FUTILITY_SHARE * evidence.needed
        return False

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric.value,
            "reason": self.reason.value,
            "evidence": _evidence_to_dict(self.evidence),
            "regressed": self.regressed,
            "improved": self.improved,
            "ambiguous": self.ambiguous,
            "past_tolerance": self.past_tolerance,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            Metric(data["metric"]),
            Reason(data["reason"]),
            _evidence_from_dict(data["evidence"]),
            bool(data["regressed"]),
            bool(data["improved"]),
            bool(data["ambiguous"]),
            bool(data["past_tolerance"]),
        )
