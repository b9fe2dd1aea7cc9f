"""The baseline store: versioned, deterministic JSON, written atomically under a lock.

A baseline is meant to be reviewed in a pull request, so its text is stable: sorted
keys, floats rounded to a fixed precision, one entry per scenario id. Writes take a lock
and re-read the file under it, so two sessions (or xdist workers) updating different
scenarios both land. A file that cannot be read is never overwritten.
"""

from __future__ import annotations

import json
import os
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import BaselineError, CorruptBaseline
from .files import decode_json, locked, read_document_text, write_atomic
from .model import AllocSite, RunRecord, RunSummary, sites_from_list
from .validate import InvalidValue, as_list, as_object, as_text, describe, get, within

SCHEMA_VERSION = 1
_SITES_KEPT = 5


def id_pattern(pattern: str) -> re.Pattern[str]:
    """A scenario id or glob as a regex: ``*`` and ``?`` are wildcards and every other
    character is itself, because parametrized ids hold brackets (``test_x[20000]``) that
    fnmatch would read as a character class, so that an exact id never matched itself."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def id_matches(nodeid: str, pattern: str) -> bool:
    """Whether ``pattern`` (an exact id, or a glob of ``*`` and ``?``) names ``nodeid``."""
    return nodeid == pattern or id_pattern(pattern).fullmatch(nodeid) is not None


def matching_ids(ids: Iterable[str], patterns: Sequence[str]) -> list[str]:
    """The ids any of ``patterns`` names, sorted."""
    compiled = [id_pattern(p) for p in patterns]
    return sorted(i for i in ids if i in patterns or any(c.fullmatch(i) for c in compiled))


def family_members(ids: Iterable[str], name: str) -> list[str]:
    """``name`` and its parametrized members (``name[...]``) among ``ids``, sorted: a test
    renamed in the source renames every parameter's scenario."""
    return sorted(i for i in ids if i == name or (i.startswith(name + "[") and i.endswith("]")))


@dataclass(frozen=True, slots=True)
class BaselineEntry:
    """One scenario's stored runs and where they came from."""

    backend: str
    runs: tuple[RunSummary, ...]
    spec: dict[str, Any] = field(default_factory=dict)
    recorded: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    peak_sites: tuple[AllocSite, ...] = ()
    retained_sites: tuple[AllocSite, ...] = ()
    # cheap runs (memray not tracing Python allocators) for the first look; () in older files
    screen_runs: tuple[RunSummary, ...] = ()

    def typical(self, attribute: str, screen: bool = False) -> float:
        """The middle run's value (the upper one of two): a figure that one run really had;
        of the cheap runs with ``screen``."""
        values = sorted(getattr(r, attribute) for r in (self.screen_runs if screen else self.runs))
        return values[len(values) // 2] if values else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "peak_bytes": int(self.typical("peak_heap_bytes")),
            "growth_bytes_per_call": _round(float(self.typical("heap_growth"))),
            "runs": [_rounded(r) for r in self.runs],
            "spec": self.spec,
            "recorded": self.recorded,
            "environment": self.environment,
            "peak_sites": [_site_dict(s) for s in self.peak_sites[:_SITES_KEPT]],
            "retained_sites": [_site_dict(s) for s in self.retained_sites[:_SITES_KEPT]],
            **({"screen_runs": [_rounded(r) for r in self.screen_runs]} if self.screen_runs else {}),
        }

    @classmethod
    def of_runs(
        cls,
        runs: tuple[RunSummary, ...],
        first: RunRecord,
        *,
        spec: Mapping[str, Any],
        environment: Mapping[str, Any],
        recorded: Mapping[str, Any] | None = None,
        screen_runs: tuple[RunSummary, ...] = (),
    ) -> BaselineEntry:
        """A scenario's measured runs as the baseline stores them, with the backend and the
        allocation sites of its first successful run: the one way recording and
        ``memgate accept`` both make an entry."""
        return cls(
            backend=first.backend,
            runs=runs,
            spec=dict(spec),
            recorded=dict(recorded or {}),
            environment=dict(environment),
            peak_sites=first.peak_sites,
            retained_sites=first.retained_sites,
            screen_runs=screen_runs,
        )

    @classmethod
    def from_dict(cls, data: object) -> BaselineEntry:
        """Checked field by field: at least one run, each run's figures finite and in range
        (``RunSummary.from_dict``); what only describes the entry must have its JSON type."""
        d = as_object(data)
        runs = _summaries(get(d, "runs"), "runs", non_empty=True)
        _agree(runs)
        spec = dict(as_object(get(d, "spec", {}), "spec"))
        traced = spec.get("trace_python_allocators")
        if traced is not None and not isinstance(traced, bool):
            raise InvalidValue("spec.trace_python_allocators", f"is {describe(traced)}, not true or false")
        return cls(
            backend=as_text(get(d, "backend"), "backend", non_empty=True),
            runs=tuple(runs),
            spec=spec,
            recorded=dict(as_object(get(d, "recorded", {}), "recorded")),
            environment=checked_environment(get(d, "environment", {})),
            peak_sites=sites_from_list(get(d, "peak_sites", ()), "peak_sites"),
            retained_sites=sites_from_list(get(d, "retained_sites", ()), "retained_sites"),
            screen_runs=_agree(_summaries(get(d, "screen_runs", ()), "screen_runs"), "screen_runs"),
        )


def _summaries(value: object, key: str, non_empty: bool = False) -> tuple[RunSummary, ...]:
    runs = []
    for i, raw in enumerate(as_list(value, key, non_empty=non_empty)):
        with within(f"{key}[{i}]"):
            runs.append(RunSummary.from_dict(raw))
    return tuple(runs)


def _rounded(run: RunSummary) -> dict[str, Any]:
    return {k: _round(v) for k, v in run.to_dict().items()}


# Runs of one scenario differ by a few percent, a cold run by a few times at most: a peak over
# a thousand times the median of its siblings (and over a GiB) is an edit or a corrupted
# write, and left in, it widens the spread until no change can be proven.
SIBLING_RATIO = 1000
SIBLING_FLOOR = 1024**2


def _agree(runs: tuple[RunSummary, ...], key: str = "runs") -> tuple[RunSummary, ...]:
    """Refuse a run whose peak is orders of magnitude away from its siblings', naming it."""
    for attribute in ("peak_heap_bytes", "peak_rss_bytes"):
        values = [abs(getattr(run, attribute)) for run in runs]
        for i, value in enumerate(values):
            others = values[:i] + values[i + 1 :]
            if not others:
                continue
            median = statistics.median(others)
            if value > SIBLING_RATIO * max(median, SIBLING_FLOOR):
                raise InvalidValue(
                    f"{key}[{i}].{attribute}",
                    f"is {describe(value)}, over {SIBLING_RATIO} times the median of the other runs "
                    f"({describe(int(median))}): it was not measured with them",
                )
    return runs


def checked_environment(value: object) -> dict[str, Any]:
    """The fingerprint is compared key by key: its values are text (or null), and its
    ``packages`` an object of versions, or the comparison itself would fail."""
    environment = dict(as_object(value, "environment"))
    for key, item in environment.items():
        if key == "packages":
            for name, version in as_object(item, "environment.packages").items():
                if version is not None and not isinstance(version, str):
                    raise InvalidValue(f"environment.packages.{name}", f"is {describe(version)}, not text")
        elif item is not None and not isinstance(item, str):
            raise InvalidValue(f"environment.{key}", f"is {describe(item)}, not text")
    return environment


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    return value


def _site_dict(site: AllocSite) -> dict[str, Any]:
    data = site.to_dict()
    data["stack"] = data["stack"][:4]
    return data


@dataclass(frozen=True, slots=True)
class Baseline:
    path: Path
    entries: dict[str, BaselineEntry]
    memgate_version: str = ""

    def get(self, nodeid: str) -> BaselineEntry | None:
        return self.entries.get(nodeid)


_FIX = (
    "restore it from git, or run pytest --memgate --memgate-update to move it aside and record "
    "afresh; the file was left untouched"
)


def load_baseline(path: Path) -> Baseline:
    """Read a baseline; a missing file is an empty baseline, a broken one an error."""
    if "\0" in str(path):
        raise BaselineError(
            f"memgate: baseline path {str(path)!r} contains a NUL byte; no file can be named so"
        )
    if not path.exists() and not path.is_symlink():
        return Baseline(path, {})
    return parse_baseline(read_document_text(path, "baseline ", _FIX, CorruptBaseline), path)


def parse_baseline(text: str, path: Path) -> Baseline:
    """A baseline's text into entries; anything that is not exactly what the gate writes (a
    non-finite or out-of-range figure, a wrong type, a missing run) is an error naming the
    file, the scenario and the key: a comparison is never quietly weakened."""
    fix = _FIX
    document = decode_json(text, path, fix, "baseline ", CorruptBaseline)
    if not isinstance(document, dict) or "scenarios" not in document:
        raise CorruptBaseline(f"memgate: {path} is not a memgate baseline (no 'scenarios' table); {fix}")
    scenarios = document["scenarios"]
    if not isinstance(scenarios, dict):
        raise CorruptBaseline(
            f"memgate: baseline {path}: 'scenarios' is {describe(scenarios)}, not an object of "
            f"scenario ids; {fix}"
        )
    version = document.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version != SCHEMA_VERSION:
        raise CorruptBaseline(
            f"memgate: baseline {path} has schema_version {describe(version)}, this memgate reads "
            f"{SCHEMA_VERSION}; upgrade pytest-memgate or re-record the baseline"
        )
    written_by = document.get("memgate_version", "")
    if not isinstance(written_by, str):
        raise CorruptBaseline(
            f"memgate: baseline {path}: memgate_version is {describe(written_by)}, not text; {fix}"
        )
    entries: dict[str, BaselineEntry] = {}
    for nodeid, raw in scenarios.items():
        try:
            entries[nodeid] = BaselineEntry.from_dict(raw)
        except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
            # InvalidValue names the key; anything else is a bug in a check, still no traceback.
            problem = str(exc) if isinstance(exc, InvalidValue) else f"{type(exc).__name__}: {exc}"
            raise CorruptBaseline(
                f"memgate: baseline {path}: scenario {nodeid!r} is malformed: {problem}; {fix}"
            ) from None
    return Baseline(path, entries, written_by)


def set_aside(path: Path, moment: datetime) -> Path | None:
    """Move a baseline that cannot be read out of the way, under the store's lock, so that
    an explicit update records afresh: renamed beside itself (``baseline.json.corrupt-<UTC
    time>``), never deleted. ``None`` when it is gone or readable by now (another process of
    the session moved it first, or wrote it)."""
    stamp = moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    with locked(path, BaselineError):
        try:
            load_baseline(path)
            return None
        except CorruptBaseline:
            if not (path.is_file() and os.access(path, os.R_OK)):
                raise  # a FIFO, a directory, a file this user cannot read: not content to set aside
        target = path.with_name(f"{path.name}.corrupt-{stamp}")
        number = 1
        while target.exists() or target.is_symlink():
            number += 1
            target = path.with_name(f"{path.name}.corrupt-{stamp}-{number}")
        try:
            path.rename(target)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BaselineError(
                f"memgate: baseline {path} cannot be read and cannot be moved aside ({exc.strerror}); "
                "move or restore it yourself and rerun"
            ) from None
    return target


def render_baseline(entries: Mapping[str, BaselineEntry], memgate_version: str) -> str:
    document = {
        "schema_version": SCHEMA_VERSION,
        "memgate_version": memgate_version,
        "scenarios": {nodeid: entries[nodeid].to_dict() for nodeid in sorted(entries)},
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def update_baseline(
    path: Path,
    changes: Mapping[str, BaselineEntry],
    memgate_version: str,
    *,
    remove: tuple[str, ...] = (),
) -> Baseline:
    """Merge ``changes`` into the file under a lock; the current file is re-read first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path, BaselineError):
        current = load_baseline(path)  # raises (and writes nothing) if the file is corrupt
        merged = dict(current.entries)
        for nodeid in remove:
            merged.pop(nodeid, None)
        merged.update(changes)
        write_atomic(path, render_baseline(merged, memgate_version))
    return Baseline(path, merged, memgate_version)


def acceptance(reason: str, previous: BaselineEntry | None) -> dict[str, Any]:
    """What an accepted increase records: why, and the figures it replaced."""
    before = previous.to_dict() if previous is not None else {}
    return {
        "reason": reason,
        "previous_peak_bytes": before.get("peak_bytes"),
        "previous_growth_bytes_per_call": before.get("growth_bytes_per_call"),
    }
