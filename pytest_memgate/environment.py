"""What makes two measurements comparable: the environment fingerprint, its differences,
the per-environment baseline path, and whether one baseline entry may be compared here.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .baseline import BaselineEntry
from .config import baseline_template_fields
from .errors import BaselineError
from .results import Note, NoteKind


def environment_fingerprint(backend: str, packages: Sequence[str] = ()) -> dict[str, Any]:
    """What makes figures comparable: interpreter, platform, tracker, allocator, packages."""
    memray_version = None
    if backend == "memray":
        try:
            import memray

            memray_version = getattr(memray, "__version__", None)
        except ImportError:
            pass
    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": sys.platform,
        "machine": platform.machine(),
        "backend": backend,
        "memray": memray_version,
        "allocator": os.environ.get("PYTHONMALLOC", "default"),
        "packages": versions,
    }


def _minor(version: object) -> str:
    return ".".join(str(version).split(".")[:2]) if version else str(version)


def fingerprint_differences(
    recorded: Mapping[str, Any], current: Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    """(what, recorded, current) for differences that can move memory figures; patch
    releases of Python and memray cannot."""
    if not recorded:
        return []
    out = []
    for key in ("implementation", "platform", "machine", "backend", "allocator"):
        if key in recorded and recorded[key] != current.get(key):
            out.append((key, str(recorded[key]), str(current.get(key))))
    for key in ("python", "memray"):
        if key in recorded and _minor(recorded[key]) != _minor(current.get(key)):
            out.append((key, str(recorded[key]), str(current.get(key))))
    old_packages = recorded.get("packages") or {}
    for name, version in (current.get("packages") or {}).items():
        if name in old_packages and old_packages[name] != version:
            out.append((name, str(old_packages[name]), str(version)))
    return out


def expand_baseline_path(path: Path, fingerprint: Mapping[str, Any]) -> Path:
    """``.memgate/{python}-{machine}.json`` keeps one baseline per environment side by side.

    Only the bare placeholders are filled in: ``str.format`` would also follow ``{python.x}``
    or ``{python[0]}`` into attributes and items, so every other field is an error that
    names it and the valid ones.
    """
    text = str(path)
    if "{" not in text:
        return path
    try:
        fields = baseline_template_fields(text)
    except ValueError as exc:
        raise BaselineError(f"memgate: baseline path {text!r}: {exc}") from None
    values = {
        "python": _minor(fingerprint.get("python")),
        "implementation": str(fingerprint.get("implementation", "")).lower(),
        "platform": str(fingerprint.get("platform", "")),
        "machine": str(fingerprint.get("machine", "")),
        "backend": str(fingerprint.get("backend", "")),
    }
    return Path("".join(literal + (values[name] if name else "") for literal, name in fields))


@dataclass(frozen=True, slots=True)
class Comparability:
    """Whether a scenario's baseline entry may be compared with this run, and why not."""

    entry: BaselineEntry | None  # the entry to compare with; None when not compared
    note: Note | None = None
    fail: bool = False  # env_mismatch = "fail": the scenario is an error


def comparability(
    entry: BaselineEntry | None,
    *,
    backend: str,
    traced: bool,
    fingerprint: Mapping[str, Any],
    env_mismatch: str,
) -> Comparability:
    """Like is compared with like: same backend, same tracing mode, same environment
    (under the ``env_mismatch`` policy)."""
    if entry is None:
        return Comparability(None)
    recorded_traced = bool(entry.spec.get("trace_python_allocators", True))
    if recorded_traced != traced:
        return Comparability(None, Note(NoteKind.TRACE_MODE, str(recorded_traced), str(traced)))
    if entry.backend != backend:
        return Comparability(None, Note(NoteKind.BACKEND, entry.backend, backend))
    differences = tuple(fingerprint_differences(entry.environment, fingerprint))
    if not differences:
        return Comparability(entry)
    note = Note(NoteKind.ENVIRONMENT, differences=differences, policy=env_mismatch)
    if env_mismatch == "warn":
        return Comparability(entry, note)
    return Comparability(None, note, fail=env_mismatch == "fail")
