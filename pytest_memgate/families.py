"""``sizes=[...]`` families: which sizes have been measured, and how a family is judged.

A family is judged once every size is in, on the result of its last size: how the peak
grows with payload size (``judge_family``: a power law fitted over every run of every
size, against the baseline's and the budgets) joins that result's findings. Under
pytest-xdist the sizes may run on different workers; the controller then holds every
size's peaks (merged from the workers) and judges the family at the end of the session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from .baseline import BaselineEntry
from .findings import ExponentFit, Finding, Metric, ProductionCheck, Reason, ScalingTest
from .marker import ScenarioSpec
from .powerlaw import exponent_above_p, exponent_increase_p, fit_power_law, predict_power_law
from .results import Scaling, ScenarioResult
from .verdict import Policy, with_findings


def judge_scaling(
    new: ExponentFit,
    old_exponent_p: tuple[float, float] | None,
    spec: ScenarioSpec,
    policy: Policy,
    *,
    production: tuple[float, float] | None = None,
    memory_limit: int | None = None,
    budget_p: float | None = None,
) -> list[Finding]:
    """How the peak grows with payload size, against the baseline and the budgets.

    ``old_exponent_p`` is the baseline's exponent and the one-sided p of the increase;
    ``budget_p`` the one-sided p that the exponent is above ``spec.max_exponent`` (without
    it, the 95% interval's lower end decides); ``production`` the extrapolated peak at
    ``spec.production_size`` (point, upper bound). A change from linear to quadratic fails
    even when the CI sizes' peaks are small, because production payloads are not small.
    ``policy`` is the session's: both tests take their level from the scenario's share
    (``Policy.for_scenario``), so they count in the session's false-alarm rate.
    """
    policy = policy.for_scenario(spec)
    findings = []
    if old_exponent_p is not None:
        old, p = old_exponent_p
        grew = new.exponent - old
        past = grew > policy.exponent_tolerance
        test = ScalingTest(new, old, p, policy.alpha, policy.exponent_tolerance)
        regressed = past and p < policy.alpha
        findings.append(Finding(Metric.PEAK_SCALING, Reason.SCALING, test, regressed, past_tolerance=past))
    if spec.max_exponent is not None:
        if budget_p is None:
            test = ScalingTest(new, max_exponent=spec.max_exponent)
            over = new.low > spec.max_exponent
        else:
            test = ScalingTest(new, p=budget_p, alpha=policy.alpha, max_exponent=spec.max_exponent)
            over = budget_p < policy.alpha
        findings.append(Finding(Metric.PEAK_SCALING, Reason.BUDGET, test, over))
    if spec.production_size is not None and production is not None:
        point, upper = production
        limits = [("max_peak", b) for b in (spec.max_peak,) if isinstance(b, int)]
        if memory_limit is not None:
            limits.append(("the memory limit", memory_limit))
        check = ProductionCheck(new, spec.production_size, float(point), float(upper), tuple(limits))
        over = any(point > size for _, size in limits)
        findings.append(Finding(Metric.PRODUCTION_PEAK, Reason.BUDGET, check, over))
    return findings


def judge_family(
    family: str,
    peaks: Mapping[int, Sequence[int]],
    baseline_peaks: Mapping[int, Sequence[int]] | None,
    spec: ScenarioSpec,
    policy: Policy,
    *,
    memory_limit: int | None = None,
) -> tuple[list[Finding], Scaling]:
    """Fit ``peak ≈ a·n^b`` over every run of every size (and the baseline's, when every
    size has a comparable entry) and judge the exponent and the production estimate."""
    sizes = sorted(peaks)
    new = fit_power_law([n for n in sizes for _ in peaks[n]], [p for n in sizes for p in peaks[n]])
    fit = ExponentFit(new.exponent, new.low, new.high)
    old_exponent_p = None
    if baseline_peaks is not None:
        pairs = [(n, p) for n in sorted(baseline_peaks) for p in baseline_peaks[n]]
        old = fit_power_law([n for n, _ in pairs], [p for _, p in pairs])
        old_exponent_p = (old.exponent, exponent_increase_p(old, new))
    production = None
    if spec.production_size is not None:
        production = predict_power_law(new, spec.production_size)
    budget_p = None
    if spec.max_exponent is not None:
        budget_p = exponent_above_p(new, spec.max_exponent)
    findings = judge_scaling(
        fit,
        old_exponent_p,
        spec,
        policy,
        production=production,
        memory_limit=memory_limit,
        budget_p=budget_p,
    )
    scaling = Scaling(
        family,
        tuple(sizes),
        fit,
        old_exponent_p[0] if old_exponent_p is not None else None,
        spec.production_size,
        production[0] if production is not None else None,
        production[1] if production is not None else None,
    )
    return findings, scaling


# size -> (nodeid, heap peaks of its runs)
Members = dict[int, tuple[str, tuple[int, ...]]]


@dataclass
class Families:
    """The sizes measured so far, family by family."""

    members: dict[str, Members] = field(default_factory=dict)

    def add(self, name: str, size: int, result: ScenarioResult) -> Members:
        """Keep one size's peaks; returns its family's sizes so far."""
        members = self.members.setdefault(name, {})
        members[size] = (result.nodeid, tuple(s.peak_heap_bytes for s in result.summaries))
        return members

    def judge(
        self,
        result: ScenarioResult,
        name: str,
        size: int,
        *,
        policy: Policy,
        memory_limit: int | None,
        entry_of: Callable[[str], BaselineEntry | None],
    ) -> ScenarioResult:
        """``result`` (one size) with its family's scaling findings once every size of the
        family is in, else as it was. ``entry_of`` is a size's comparable baseline entry:
        the baseline's fit is used only when every size has one."""
        members = self.add(name, size, result)
        if set(members) != set(result.spec.sizes):
            return result
        stored = {n: entry_of(member) for n, (member, _) in members.items()}
        baseline_peaks = None
        if all(entry is not None for entry in stored.values()):
            baseline_peaks = {n: [r.peak_heap_bytes for r in e.runs] for n, e in stored.items() if e}
        findings, scaling = judge_family(
            name,
            {n: peaks for n, (_, peaks) in members.items()},
            baseline_peaks,
            result.spec,
            policy,
            memory_limit=memory_limit,
        )
        return replace(result, verdict=with_findings(result.verdict, findings), scaling=scaling)

    def unjudged(self, results: Mapping[str, ScenarioResult]) -> list[tuple[str, int, ScenarioResult]]:
        """Families complete in ``results`` that no process judged (their sizes ran on
        different xdist workers): (family, largest size, its result), to judge there."""
        due = []
        for name, members in self.members.items():
            found = [results[nodeid] for nodeid, _ in members.values() if nodeid in results]
            if not found or any(r.scaling is not None for r in found):
                continue
            last = max(found, key=lambda r: r.size or 0)
            if last.size is None or set(members) != set(last.spec.sizes):
                continue
            due.append((name, last.size, last))
        return due
