"""Where a measurement came from, and whether this run may write the baseline: the branch
CI builds (from its variables, else git), branch globs, and the commit."""

from __future__ import annotations

import fnmatch
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def git(rootdir: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=rootdir, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def working_tree_dirty(rootdir: Path, ignore: Sequence[Path] = ()) -> bool | None:
    """Whether tracked files differ from HEAD (``None`` outside git): figures measured on
    a dirty tree do not belong to the commit recorded beside them.

    Untracked files do not count (as for ``git describe --dirty``): a checkout always has
    some, such as reports and the baseline's lock. Neither do the files in ``ignore``, the
    baseline being written, whose own edits are not what was measured.
    """
    top = git(rootdir, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    try:
        done = subprocess.run(
            # no optional locks: a read-only look, never racing a git command beside it for the index
            ["git", "--no-optional-locks", "status", "--porcelain", "-z", "--untracked-files=no"],
            cwd=rootdir,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    ignored = {path.resolve() for path in ignore}
    entries = iter(done.stdout.split("\0"))
    for entry in entries:
        if len(entry) < 4:
            continue
        status, name = entry[:2], entry[3:]
        if "R" in status or "C" in status:
            next(entries, None)  # a rename's or copy's source follows as its own field
        if (Path(top) / name).resolve() not in ignored:
            return True
    return False


def provenance(
    rootdir: Path, memgate_version: str, branch: str | None, *, ignore: Sequence[Path] = ()
) -> dict[str, Any]:
    """Where an entry's figures come from; ``dirty`` only where git can tell."""
    recorded: dict[str, Any] = {
        "date": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "commit": git(rootdir, "rev-parse", "HEAD"),
        "branch": branch,
        "memgate_version": memgate_version,
    }
    dirty = working_tree_dirty(rootdir, ignore)
    if dirty is not None:
        recorded["dirty"] = dirty
    return recorded


# Per CI system: the variables naming the branch, pull-request source branch first, so that
# a pull request *from* a feature branch *into* main never counts as a run on main.
_CI_BRANCH_VARIABLES = (
    ("GitHub Actions", "GITHUB_ACTIONS", ("GITHUB_HEAD_REF", "GITHUB_REF_NAME")),
    ("GitLab CI", "GITLAB_CI", ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_BRANCH")),
    ("Buildkite", "BUILDKITE", ("BUILDKITE_BRANCH",)),
    ("CircleCI", "CIRCLECI", ("CIRCLE_BRANCH",)),
    ("Jenkins", "JENKINS_URL", ("CHANGE_BRANCH", "BRANCH_NAME", "GIT_BRANCH")),
)
# Every variable the branch is read from, and the generic ``CI`` most CI systems set: what a
# run "outside any CI" must not have set.
CI_VARIABLES = ("CI", *(name for _, marker, names in _CI_BRANCH_VARIABLES for name in (marker, *names)))
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class BranchInfo:
    name: str | None
    source: str  # where the name came from, for the summary
    ci: bool = False  # a CI system runs this session (its branch variable, or CI=true)


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
                return BranchInfo(value, f"{system} {variable}", ci=True)
    ci = env.get("CI", "").strip().lower() in _TRUE
    name = git(rootdir, "rev-parse", "--abbrev-ref", "HEAD")
    if name and name != "HEAD":
        return BranchInfo(name, "git", ci=ci)
    return BranchInfo(None, "git (detached HEAD, no CI branch variable)", ci=ci)


def matching_glob(branch: str | None, globs: Sequence[str]) -> str | None:
    if branch is None:
        return None
    return next((glob for glob in globs if fnmatch.fnmatchcase(branch, glob)), None)
