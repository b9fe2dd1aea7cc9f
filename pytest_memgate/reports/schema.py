"""The ``--memgate-report`` document, checked as baselines are: every field a command or a
renderer reads has its JSON type and range, and a verdict is one the gate gives.

A report is handed around CI (shards, artifacts, merges) and rendered later by
``memgate report``, ``merge``, ``show``, ``diff``, ``accept`` and ``prune``; a field the
renderers trusted (``findings[0] = "x"``, ``runs = 10**400``) once ended in a traceback,
and an edited verdict (``"REGRESSION"``) merged as a pass. ``check_report`` refuses both
with an ``InvalidValue`` naming the key; the caller names the file and the fix. Keys a
report of an older version lacks may be missing (or null); present, they are checked
(``fails``, from version 2, against the verdict: an edited flag would change an exit status).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

from ..baseline import checked_environment
from ..failing import Failure
from ..findings import Metric, Reason
from ..marker import ScenarioSpec
from ..model import RunRecord, sites_from_list
from ..results import Outcome, Shape
from ..validate import (
    InvalidValue,
    as_float,
    as_int,
    as_list,
    as_object,
    as_text,
    describe,
    get,
    within,
)

Check = Callable[[object, str], object]

# Verdicts that may stand beside a finding that regressed: an error keeps the findings of a
# verdict it replaced (a scenario measured in another environment under env_mismatch=fail).
_WITH_REGRESSED = (Outcome.REGRESSION.value, Outcome.ERROR.value)
# Verdicts a run can fail a test on by the verdict (an inconclusive one under
# inconclusive = "fail"): ``failing.scenario_failure``.
_FAIL_ON_VERDICT = (Outcome.REGRESSION.value, Outcome.ERROR.value, Outcome.INCONCLUSIVE.value)
_MAX_COUNT = 10**9  # runs, sizes: far beyond any session, far below a float's exact range


def _member(kind: type[enum.Enum]) -> Check:
    def check(value: object, key: str) -> object:
        text = as_text(value, key)
        known = [str(m.value) for m in kind]
        if text not in known:
            raise InvalidValue(key, f"is {describe(text)}, not one of {', '.join(known)}")
        return text

    return check


def _boolean(value: object, key: str) -> object:
    if not isinstance(value, bool):
        raise InvalidValue(key, f"is {describe(value)}, not true or false")
    return value


def _count(value: object, key: str) -> object:
    return as_int(value, key, high=_MAX_COUNT)


def _figure(value: object, key: str) -> object:
    return as_float(value, key)


def _bytes(value: object, key: str) -> object:
    return as_int(value, key)


def _text(value: object, key: str) -> object:
    return as_text(value, key)


def _optional(data: Mapping[str, Any], key: str, check: Check) -> Any:
    """A field that may be missing or null; present, it passes ``check``."""
    value = data.get(key)
    return None if value is None else check(value, key)


def _list_of(data: Mapping[str, Any], key: str, check: Check) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    items = as_list(value, key)
    return [check(item, f"{key}[{i}]") for i, item in enumerate(items)]


def _interval(value: object, key: str) -> object:
    items = as_list(value, key)
    if len(items) != 2:
        raise InvalidValue(key, f"has {len(items)} items, not [low, high]")
    for i, item in enumerate(items):
        if item is not None:
            _figure(item, f"{key}[{i}]")
    return items


def _finding(value: object, key: str) -> object:
    with within(key):
        finding = as_object(value)
        _member(Metric)(get(finding, "metric"), "metric")
        _member(Reason)(get(finding, "reason"), "reason")
        for flag in ("regressed", "improved", "ambiguous"):
            _optional(finding, flag, _boolean)
        _optional(finding, "text", _text)
        for name in ("baseline", "current", "delta", "ratio", "p_increase"):
            _optional(finding, name, _figure)
        p = finding.get("p_increase")
        if p is not None and not 0 <= p <= 1:
            raise InvalidValue("p_increase", f"is {describe(p)}, not a probability between 0 and 1")
        for name in ("delta_ci", "ratio_ci"):
            _optional(finding, name, _interval)
    return finding


def _sites(value: object, key: str) -> object:
    return sites_from_list(value, key)


def _baseline(value: object, key: str) -> object:
    with within(key):
        baseline = as_object(value)
        _optional(baseline, "peak_bytes", _bytes)
        _optional(baseline, "growth_bytes_per_call", _figure)
        _optional(baseline, "rss_growth_bytes_per_call", _figure)
        _optional(baseline, "runs", _count)
        _optional(baseline, "recorded", lambda v, k: as_object(v, k))
        _optional(baseline, "peak_sites", _sites)
        _optional(baseline, "retained_sites", _sites)
    return baseline


def _scaling(value: object, key: str) -> object:
    with within(key):
        scaling = as_object(value)
        _optional(scaling, "family", _text)
        _list_of(scaling, "sizes", _bytes)
        _optional(scaling, "exponent", _figure)
        _optional(scaling, "exponent_ci", _interval)
        _optional(scaling, "baseline_exponent", _figure)
        _list_of(scaling, "findings", _text)
        _optional(scaling, "production_size", _bytes)
        _optional(scaling, "production_peak_bytes", _figure)
        _optional(scaling, "production_peak_upper_bytes", _figure)
    return scaling


def _record(value: object, key: str) -> object:
    with within(key):
        return RunRecord.from_dict(value)


def check_scenario(value: object) -> None:
    """One entry of ``scenarios``, with keys named from the entry (``findings[0].metric``)."""
    scenario = as_object(value)
    as_text(get(scenario, "id"), "id")
    verdict = _member(Outcome)(get(scenario, "verdict"), "verdict")
    _list_of(scenario, "reasons", _member(Reason))
    for name in ("peak_bytes", "rss_peak_bytes"):
        _optional(scenario, name, _bytes)
    for name in ("growth_bytes_per_call", "rss_growth_bytes_per_call"):
        _optional(scenario, name, _figure)
    _optional(scenario, "runs", _count)
    _optional(scenario, "warmup_hint", _count)
    for name in ("backend", "message", "capture", "flamegraph"):
        _optional(scenario, name, _text)
    _optional(scenario, "shape", _member(Shape))
    _optional(scenario, "baseline", _baseline)
    _list_of(scenario, "notes", _text)
    findings = _list_of(scenario, "findings", _finding)
    spec = scenario.get("spec")
    if spec is not None:
        with within("spec"):
            ScenarioSpec.from_dict(spec)
    _optional(scenario, "scaling", _scaling)
    records = as_list(get(scenario, "run_records"), "run_records")
    for i, record in enumerate(records):
        _record(record, f"run_records[{i}]")
    _check_fails(scenario, verdict)
    regressed = [i for i, f in enumerate(findings) if f.get("regressed")]
    if regressed and verdict not in _WITH_REGRESSED:
        raise InvalidValue(
            "verdict",
            f"is {describe(verdict)}, but findings[{regressed[0]}] regressed: the verdict was "
            "edited, or the findings were",
        )


def _check_fails(scenario: Mapping[str, Any], verdict: object) -> None:
    """``fails`` and ``failure`` agree with each other and with the rule that set them: an
    edited flag would change the exit status of ``memgate report`` and ``merge``."""
    flag = _optional(scenario, "fails", _boolean)
    failure = _optional(scenario, "failure", _member(Failure))
    if failure is not None and flag is not True:
        raise InvalidValue("fails", f"is {describe(flag)}, but failure is {describe(failure)}")
    if flag is False and verdict == Outcome.ERROR.value:
        raise InvalidValue("fails", "is false, but the verdict is 'error': an error always fails its test")
    if failure == Failure.STRICT_NEW.value and verdict != Outcome.NEW.value:
        raise InvalidValue("failure", f"is 'strict_new', but the verdict is {describe(verdict)}, not 'new'")
    if failure == Failure.VERDICT.value and verdict not in _FAIL_ON_VERDICT:
        raise InvalidValue("failure", f"is 'verdict', but the verdict {describe(verdict)} fails no test")
    if flag is True and verdict not in (*_FAIL_ON_VERDICT, Outcome.NEW.value):
        raise InvalidValue("fails", f"is true, but the verdict {describe(verdict)} fails no test")


def _written(value: object, key: str, second: str) -> object:
    with within(key):
        item = as_object(value)
        as_text(get(item, "id"), "id")
        _optional(item, second, _text)
    return item


def _shard(value: object, key: str) -> object:
    with within(key):
        item = as_object(value)
        _optional(item, "report", _text)
        _optional(item, "scenarios", _count)
    return item


def check_report(document: object) -> None:
    """The whole document; ``scenarios`` entries are checked by the caller with
    ``check_scenario``, so that its error can name the scenario."""
    doc = as_object(document)
    _optional(doc, "report_version", _count)
    for name in ("memgate_version", "backend", "backend_reason", "baseline_path", "suite_size_source"):
        _optional(doc, name, _text)
    for name in ("alpha", "alpha_per_test"):
        level = _optional(doc, name, _figure)
        if level is not None and not 0 < level < 1:
            raise InvalidValue(name, f"is {describe(level)}, not a level between 0 and 1")
    _optional(doc, "suite_size", _count)
    _list_of(doc, "suite_ids", _text)
    provenance = doc.get("provenance")
    if provenance is not None:
        with within("provenance"):
            recorded = as_object(provenance)
            _optional(recorded, "commit", _text)
            _optional(recorded, "dirty", _boolean)
    environment = doc.get("environment")
    if environment is not None:
        checked_environment(environment)
    _list_of(doc, "baseline_written", lambda v, k: _written(v, k, "why"))
    _list_of(doc, "baseline_not_written", lambda v, k: _written(v, k, "outcome"))
    _list_of(doc, "shards", _shard)
    as_list(get(doc, "scenarios"), "scenarios")
