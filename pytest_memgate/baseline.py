"""The baseline store: versioned, deterministic JSON, written atomically under a lock.

A baseline is meant to be reviewed in a pull request, so its text is stable: sorted
keys, floats rounded to a fixed precision, one entry per scenario id. Writes take a lock
and re-read the file under it, so two sessions (or xdist workers) updating different
scenarios both land. A file that cannot be read is never overwritten.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import BaselineError
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


def load_baseline(path: Path) -> Baseline:
    """Read a baseline; a missing file is an empty baseline, a broken one an error."""
    if not path.exists():
        return Baseline(path, {})
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BaselineError(
            f"memgate: cannot read baseline {path}: {exc.strerror}; check its permissions"
        ) from exc
    return parse_baseline(text, path)


def decode_json(text: str, path: Path, fix: str, what: str = "") -> Any:
    """``json.loads`` whose error names the file, the place and the fix."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"memgate: {what}{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); {fix}"
        ) from None


def parse_baseline(text: str, path: Path) -> Baseline:
    fix = "restore it from git or delete it and rerun with --memgate-update. The file was left untouched."
    document = decode_json(text, path, fix, "baseline ")
    if not isinstance(document, dict) or "scenarios" not in document:
        raise BaselineError(f"memgate: {path} is not a memgate baseline (no 'scenarios'); {fix}")
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


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock beside ``path``, held across read-merge-write."""
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a+b") as handle:
        if sys.platform != "win32":
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if sys.platform != "win32":
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def write_atomic(path: Path, text: str) -> None:
    """Temp file in the same directory, fsync, rename: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide the file from teammates
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def update_baseline(
    path: Path,
    changes: Mapping[str, BaselineEntry],
    memgate_version: str,
    *,
    remove: tuple[str, ...] = (),
) -> Baseline:
    """Merge ``changes`` into the file under a lock; the current file is re-read first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        current = load_baseline(path)  # raises (and writes nothing) if the file is corrupt
        merged = dict(current.entries)
        for nodeid in remove:
            merged.pop(nodeid, None)
        merged.update(changes)
        write_atomic(path, render_baseline(merged, memgate_version))
    return Baseline(path, merged, memgate_version)


# --- where a measurement came from ------------------------------------------------------


def _git(rootdir: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=rootdir, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def acceptance(reason: str, previous: BaselineEntry | None) -> dict[str, Any]:
    """What an accepted increase records: why, and the figures it replaced."""
    before = previous.to_dict() if previous is not None else {}
    return {
        "reason": reason,
        "previous_peak_bytes": before.get("peak_bytes"),
        "previous_growth_bytes_per_call": before.get("growth_bytes_per_call"),
    }


def provenance(rootdir: Path, memgate_version: str, branch: str | None) -> dict[str, Any]:
    return {
        "date": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "commit": _git(rootdir, "rev-parse", "HEAD"),
        "branch": branch,
        "memgate_version": memgate_version,
    }


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


def fingerprint_differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Differences that can move memory figures; patch releases of Python and memray cannot."""
    if not recorded:
        return []
    out = []
    for key in ("implementation", "platform", "machine", "backend", "allocator"):
        if key in recorded and recorded[key] != current.get(key):
            out.append(f"{key} {recorded[key]} -> {current.get(key)}")
    for key in ("python", "memray"):
        if key in recorded and _minor(recorded[key]) != _minor(current.get(key)):
            out.append(f"{key} {recorded[key]} -> {current.get(key)}")
    old_packages = recorded.get("packages") or {}
    for name, version in (current.get("packages") or {}).items():
        if name in old_packages and old_packages[name] != version:
            out.append(f"{name} {old_packages[name]} -> {version}")
    return out


def expand_baseline_path(path: Path, fingerprint: Mapping[str, Any]) -> Path:
    """``.memgate/{python}-{machine}.json`` keeps one baseline per environment side by side."""
    text = str(path)
    if "{" not in text:
        return path
    fields = {
        "python": _minor(fingerprint.get("python")),
        "implementation": str(fingerprint.get("implementation", "")).lower(),
        "platform": fingerprint.get("platform", ""),
        "machine": fingerprint.get("machine", ""),
        "backend": fingerprint.get("backend", ""),
    }
    try:
        return Path(text.format(**fields))
    except (KeyError, IndexError, ValueError) as exc:
        raise BaselineError(
            f"memgate: baseline path {text!r} has an unknown placeholder ({exc}); "
            f"use {{{'}, {'.join(fields)}}}"
        ) from None


# --- where updates may happen -----------------------------------------------------------

# Per CI system: the variables naming the branch, pull-request source branch first, so that
# a pull request *from* a feature branch *into* main never counts as a run on main.
_CI_BRANCH_VARIABLES = (
    ("GitHub Actions", "GITHUB_ACTIONS", ("GITHUB_HEAD_REF", "GITHUB_REF_NAME")),
    ("GitLab CI", "GITLAB_CI", ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_BRANCH")),
    ("Buildkite", "BUILDKITE", ("BUILDKITE_BRANCH",)),
    ("CircleCI", "CIRCLECI", ("CIRCLE_BRANCH",)),
    ("Jenkins", "JENKINS_URL", ("CHANGE_BRANCH", "BRANCH_NAME", "GIT_BRANCH")),
)


@dataclass(frozen=True, slots=True)
class BranchInfo:
    name: str | None
    source: str  # where the name came from, for the summary


def current_branch(rootdir: Path, environ: Mapping[str, str] | None = None) -> BranchInfo:
    """The branch this run builds: CI variables first (CI checks out detached heads), then git."""
    env = os.environ if environ is None else environ
    for system, marker, variables in _CI_BRANCH_VARIABLES:
        if not env.get(marker):
            continue
        for variable in variables:
            value = env.get(variable, "").strip()
            if value:
                if variable == "GIT_BRANCH" and value.startswith("origin/"):
                    value = value[len("origin/") :]
                return BranchInfo(value, f"{system} {variable}")
    name = _git(rootdir, "rev-parse", "--abbrev-ref", "HEAD")
    if name and name != "HEAD":
        return BranchInfo(name, "git")
    return BranchInfo(None, "git (detached HEAD, no CI branch variable)")


def matching_glob(branch: str | None, globs: Sequence[str]) -> str | None:
    if branch is None:
        return None
    return next((glob for glob in globs if fnmatch.fnmatchcase(branch, glob)), None)
