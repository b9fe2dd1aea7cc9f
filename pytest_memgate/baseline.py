"""The baseline store: versioned, deterministic JSON, written atomically under a lock.

A baseline is meant to be reviewed in a pull request, so its text is stable: sorted
keys, floats rounded to a fixed precision, one entry per scenario id. Writes take a lock
and re-read the file under it, so two sessions (or xdist workers) updating different
scenarios both land. A file that cannot be read is never overwritten.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BaselineError
from .files import decode_json, locked, read_document_text, write_atomic
from .model import AllocSite, RunSummary

SCHEMA_VERSION = 1
_SITES_KEPT = 5


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

    def typical(self, attribute: str) -> float:
        """The middle run's value (the upper one of two): a figure that one run really had."""
        values = sorted(getattr(r, attribute) for r in self.runs)
        return values[len(values) // 2] if values else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "peak_bytes": int(self.typical("peak_heap_bytes")),
            "growth_bytes_per_call": _round(float(self.typical("heap_growth"))),
            "runs": [{k: _round(v) for k, v in r.to_dict().items()} for r in self.runs],
            "spec": self.spec,
            "recorded": self.recorded,
            "environment": self.environment,
            "peak_sites": [_site_dict(s) for s in self.peak_sites[:_SITES_KEPT]],
            "retained_sites": [_site_dict(s) for s in self.retained_sites[:_SITES_KEPT]],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaselineEntry:
        return cls(
            backend=str(data["backend"]),
            runs=tuple(RunSummary.from_dict(r) for r in data["runs"]),
            spec=dict(data.get("spec", {})),
            recorded=dict(data.get("recorded", {})),
            environment=dict(data.get("environment", {})),
            peak_sites=tuple(AllocSite.from_dict(s) for s in data.get("peak_sites", ())),
            retained_sites=tuple(AllocSite.from_dict(s) for s in data.get("retained_sites", ())),
        )


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


def entry_from_report(
    scenario: Mapping[str, Any], environment: Mapping[str, Any], recorded: Mapping[str, Any]
) -> BaselineEntry:
    """A baseline entry from one scenario of a --memgate-report (what ``accept`` writes)."""
    from .metrics import summarize_run
    from .model import RunRecord

    records = [RunRecord.from_dict(r) for r in scenario["run_records"]]
    ok = [r for r in records if r.ok]
    if not ok:
        raise BaselineError(
            f"memgate: scenario {scenario['id']!r} has no successful run in the report; nothing to accept"
        )
    return BaselineEntry(
        backend=ok[0].backend,
        runs=tuple(summarize_run(r) for r in ok),
        spec=dict(scenario.get("spec") or {}),
        recorded=dict(recorded),
        environment=dict(environment),
        peak_sites=ok[0].peak_sites,
        retained_sites=ok[0].retained_sites,
    )


_FIX = "restore it from git or delete it and rerun with --memgate-update. The file was left untouched."


def load_baseline(path: Path) -> Baseline:
    """Read a baseline; a missing file is an empty baseline, a broken one an error."""
    if not path.exists() and not path.is_symlink():
        return Baseline(path, {})
    return parse_baseline(read_document_text(path, "baseline ", _FIX, BaselineError), path)


def parse_baseline(text: str, path: Path) -> Baseline:
    fix = _FIX
    document = decode_json(text, path, fix, "baseline ", BaselineError)
    if not isinstance(document, dict) or not isinstance(document.get("scenarios"), dict):
        raise BaselineError(f"memgate: {path} is not a memgate baseline (no 'scenarios' table); {fix}")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BaselineError(
            f"memgate: baseline {path} has schema_version {version!r}, this memgate reads "
            f"{SCHEMA_VERSION}; upgrade pytest-memgate or re-record the baseline"
        )
    entries: dict[str, BaselineEntry] = {}
    for nodeid, raw in document["scenarios"].items():
        try:
            entries[nodeid] = BaselineEntry.from_dict(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise BaselineError(
                f"memgate: baseline {path}: entry {nodeid!r} is malformed ({exc!r}); {fix}"
            ) from None
    return Baseline(path, entries, str(document.get("memgate_version", "")))


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
    with locked(path):
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
