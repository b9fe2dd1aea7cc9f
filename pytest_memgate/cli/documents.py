"""Reading baselines and reports for the ``memgate`` commands: one checked ``Document``.

Every file is read and checked once, by ``load_document``, so that an odd file is one
clean line and exit 2, never a traceback halfway through a command.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..baseline import parse_baseline
from ..errors import MemgateError
from ..files import decode_json, read_document_text
from ..model import RunRecord, RunSummary
from ..reports.json import REPORT_VERSION
from ..reports.schema import check_report, check_scenario
from ..units import format_size
from ..validate import InvalidValue

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_ERROR = 2

WHAT_TO_PASS = "pass a baseline file (such as .memgate/baseline.json) or a file written by --memgate-report"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scenario as both file kinds describe it; ``runs`` holds the successful runs only."""

    id: str
    backend: str
    runs: tuple[RunSummary, ...]
    run_count: int  # every run, including ones that failed (reports only)
    verdict: str | None = None  # reports only
    recorded: dict[str, Any] = field(default_factory=dict)  # baselines only
    # reports only: what the plugin said, and the raw runs (for sites and ``accept``)
    message: str = ""
    notes: tuple[str, ...] = ()
    spec: dict[str, Any] = field(default_factory=dict)
    records: tuple[RunRecord, ...] = ()
    screened: bool = False  # reports only: its one run is the cheap first look's

    def median(self, attribute: str) -> float | None:
        values = [getattr(r, attribute) for r in self.runs]
        return float(statistics.median(values)) if values else None

    def to_dict(self) -> dict[str, Any]:
        peak = self.median("peak_heap_bytes")
        rss_peak = self.median("peak_rss_bytes")
        return {
            "id": self.id,
            "backend": self.backend,
            "verdict": self.verdict,
            "heap_peak_bytes": None if peak is None else round(peak),
            "heap_growth_bytes_per_call": self.median("heap_growth"),
            "rss_peak_bytes": None if rss_peak is None else round(rss_peak),
            "rss_growth_bytes_per_call": self.median("rss_growth"),
            "runs": self.run_count,
            "successful_runs": len(self.runs),
            "recorded": self.recorded,
            "run_summaries": [r.to_dict() for r in self.runs],
        }


@dataclass(frozen=True, slots=True)
class Document:
    path: Path
    kind: str  # "baseline" or "report"
    memgate_version: str
    scenarios: dict[str, Scenario]
    environment: dict[str, Any] = field(default_factory=dict)  # reports only
    raw: dict[str, Any] = field(default_factory=dict)  # reports only: the document as written


def load_document(path: Path) -> Document:
    """Read and check a baseline or a report, telling which it is from its shape.

    The one way the commands read a file: everything they use later is checked here, so
    an odd document is one clean error (exit 2), never a traceback halfway through.
    """
    if not path.exists():
        raise MemgateError(f"memgate: {path} does not exist; {WHAT_TO_PASS}")
    if path.is_dir():
        raise MemgateError(f"memgate: {path} is a directory; {WHAT_TO_PASS}")
    text = read_document_text(path, "", WHAT_TO_PASS)
    document = decode_json(text, path, f"restore it from git or {WHAT_TO_PASS}")
    scenarios = document.get("scenarios") if isinstance(document, dict) else None
    if isinstance(scenarios, dict) or (isinstance(document, dict) and "schema_version" in document):
        return _from_baseline(text, path)  # checks that scenarios is a table
    if isinstance(scenarios, list) and ("report_version" in document or "memgate_version" in document):
        return _from_report(document, path)
    raise MemgateError(f"memgate: {path} is JSON but not a memgate baseline or report; {WHAT_TO_PASS}")


def _check_finite(runs: Sequence[RunSummary]) -> None:
    for number, run in enumerate(runs, 1):
        for name, value in run.to_dict().items():
            if not math.isfinite(value):
                raise ValueError(f"run {number} has {name} = {value}, not a finite number")


def _from_baseline(text: str, path: Path) -> Document:
    try:
        baseline = parse_baseline(text, path)  # checks the schema version and every entry
        for nodeid, entry in baseline.entries.items():
            try:
                _check_finite(entry.runs)
            except ValueError as exc:
                raise MemgateError(
                    f"memgate: baseline {path}: entry {nodeid!r} is malformed ({exc}); restore it from "
                    "git or re-record it with --memgate-update"
                ) from None
    except ArithmeticError as exc:  # a number such as 1e400 where a whole number belongs
        raise MemgateError(
            f"memgate: baseline {path} holds a number out of range ({exc}); restore it from git or "
            "re-record it with --memgate-update"
        ) from None
    scenarios = {
        nodeid: Scenario(
            id=nodeid,
            backend=entry.backend,
            runs=entry.runs,
            run_count=len(entry.runs),
            recorded=entry.recorded,
        )
        for nodeid, entry in baseline.entries.items()
    }
    return Document(path, "baseline", baseline.memgate_version, scenarios)


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else "null"


def _optional(raw: dict[str, Any], key: str, kind: type[Any], default: Any) -> Any:
    """A field that may be missing or null, but has the right JSON type when present."""
    value = raw.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise ValueError(f"{key!r} is {_json_kind(value)}, not {_json_kind(kind())}")
    return value


def _report_scenario(raw: object) -> Scenario:
    from ..metrics import summarize_run

    if not isinstance(raw, dict):
        raise ValueError(f"it is {_json_kind(raw)}, not an object")
    if not isinstance(raw.get("id"), str):
        raise ValueError("it has no 'id' text")
    if not isinstance(raw.get("run_records"), list):
        raise ValueError("it has no 'run_records' list")
    records = tuple(RunRecord.from_dict(r) for r in raw["run_records"])
    notes = _optional(raw, "notes", list, [])
    if not all(isinstance(note, str) for note in notes):
        raise ValueError("'notes' holds something other than text")
    runs = tuple(summarize_run(r) for r in records if r.ok)
    _check_finite(runs)
    return Scenario(
        id=raw["id"],
        backend=_optional(raw, "backend", str, "") or (records[0].backend if records else ""),
        runs=runs,
        run_count=len(records),
        verdict=_optional(raw, "verdict", str, "") or None,
        message=_optional(raw, "message", str, ""),
        notes=tuple(notes),
        spec=dict(_optional(raw, "spec", dict, {})),
        records=records,
        screened=bool(_optional(raw, "screened", bool, False)),
    )


def _from_report(document: dict[str, Any], path: Path) -> Document:
    fix = "write the report again with --memgate-report"
    version = document.get("report_version", REPORT_VERSION)
    if not isinstance(version, int) or version > REPORT_VERSION:
        raise MemgateError(
            f"memgate: report {path} has report_version {version!r}, this memgate reads up to "
            f"{REPORT_VERSION}; upgrade pytest-memgate"
        )
    try:
        check_report(document)
    except InvalidValue as exc:
        raise MemgateError(f"memgate: report {path}: {exc}; {fix}") from None
    environment = document.get("environment") or {}
    scenarios: dict[str, Scenario] = {}
    for index, raw in enumerate(document["scenarios"]):
        name = raw.get("id", f"#{index + 1}") if isinstance(raw, dict) else f"#{index + 1}"
        if not isinstance(name, str):
            name = f"#{index + 1}"
        try:
            check_scenario(raw)
            scenario = _report_scenario(raw)
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            detail = str(exc) if isinstance(exc, ValueError) else repr(exc)
            raise MemgateError(
                f"memgate: report {path}: scenario {name!r} is malformed ({detail}); {fix}"
            ) from None
        if scenario.id in scenarios:
            raise MemgateError(f"memgate: report {path}: scenario {scenario.id!r} appears twice; {fix}")
        scenarios[scenario.id] = scenario
    version_text = str(document.get("memgate_version", ""))
    return Document(path, "report", version_text, scenarios, environment, raw=document)


def size_text(value: float | None, *, signed: bool = False, per_call: bool = False) -> str:
    """A figure for a table or a line: ``-`` when there is none."""
    if value is None:
        return "-"
    return format_size(value, signed=signed) + ("/call" if per_call else "")
