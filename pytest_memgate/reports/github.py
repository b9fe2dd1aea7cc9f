"""GitHub Actions: the step summary and the workflow commands that annotate the diff.

A failing scenario is marked with an ``::error`` on its test's definition and a
``::warning`` on the allocation site that grew most, so a reviewer sees both in the pull
request's "Files changed" view. Paths are relative to the repository, and nothing here reads
the environment: the caller says where the rootdir sits in the repository (``root``) and
where each scenario is defined (``test_locations``).
"""

# No ``from __future__ import annotations``: this module defines a function of that name,
# which the future import's binding would shadow for type checkers. Python 3.10+ evaluates
# the annotations below as they are.

import posixpath
from collections.abc import Callable, Mapping
from typing import Any

from .comment import STEP_SUMMARY_LIMIT, fit
from .document import (
    fails,
    failure_reason,
    grown_site,
    headline_lines,
    is_project_path,
    iterations_of,
    site_amount,
    verdict_cell,
)
from .markdown import render_markdown
from .words import printable

TITLE = "memgate"
# GitHub shows at most this many annotations of each level from one step and drops the rest.
ANNOTATIONS_PER_LEVEL = 10


def step_summary(document: Mapping[str, Any], *, limit: int = STEP_SUMMARY_LIMIT) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY`` (appended by the caller), at most ``limit``
    bytes: GitHub shows no summary at all from a step whose summary is over 1 MiB, so the
    caller passes what is left of it, and a cut summary says so."""
    return fit(
        render_markdown(document, title=TITLE),
        limit,
        measure=lambda text: len(text.encode("utf-8")),
        unit="bytes",
        stated=STEP_SUMMARY_LIMIT,
        where="the --memgate-report and --memgate-html files",
    )


def escape_data(text: str) -> str:
    """A workflow command's message: ``%``, CR and LF are its only special characters."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value (``file=``, ``title=``): ``:`` and ``,`` also end it."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, message: str, *, file: str | None = None, line: int | None = None) -> str:
    properties = []
    if file:
        properties.append(f"file={escape_property(file)}")
        if line is not None and line > 0:
            properties.append(f"line={line}")
    properties.append(f"title={escape_property(TITLE)}")
    return f"::{kind} {','.join(properties)}::{printable(escape_data(message), layout=True)}"


def _repository_path(path: str, root: str) -> str | None:
    """``path`` (relative to the rootdir) relative to the repository, or None when it is not
    a relative path inside it: an annotation never carries a machine's absolute path."""
    clean = printable(path, layout=True).replace("\\", "/")
    if not is_project_path(clean):
        return None
    joined = posixpath.normpath(posixpath.join(root.replace("\\", "/").strip("/"), clean))
    return None if joined.startswith("../") or joined == ".." else joined


def annotations(
    document: Mapping[str, Any],
    *,
    test_locations: Mapping[str, tuple[str, int]],
    root: str = "",
    is_repository_file: Callable[[str], bool] | None = None,
) -> list[str]:
    """Workflow commands for the scenarios whose test the gate failed (``document.fails``),
    errors first.

    ``test_locations`` maps a scenario id to its test's (file, 1-based line), both relative
    to the rootdir (pytest's ``item.location`` with its 0-based line plus one). ``root`` is
    the rootdir relative to the repository (``""`` when they are the same, ``"examples"``
    for this project's examples). Sites are annotated only in the project's files;
    ``is_repository_file``, when given, is asked about each repository-relative path too
    (a library's path can look relative once its ``site-packages`` prefix is cut).
    """
    errors: list[str] = []
    warnings: list[str] = []
    for scenario in document.get("scenarios") or ():
        if not fails(scenario):
            continue
        nodeid = str(scenario.get("id", ""))
        location = test_locations.get(nodeid)
        file = line = None
        if location is not None:
            file, line = _repository_path(str(location[0]), root), int(location[1])
        else:  # the id starts with the test file's path
            file = _repository_path(nodeid.split("::", 1)[0], root)
        reason = failure_reason(scenario)
        lines = ([reason] if reason else []) + headline_lines(scenario)
        # the id as pytest spells it (\n, \x1b): its own newlines are not the message's
        message = f"{verdict_cell(scenario)} in {printable(nodeid)}" + "".join(f"\n{text}" for text in lines)
        errors.append(command("error", message, file=file, line=line if file else None))
        change = grown_site(scenario, project_only=True) if scenario.get("verdict") == "regression" else None
        if change is None:
            continue
        path = _repository_path(str(change.site.get("filename", "")), root)
        if path is None or (is_repository_file is not None and not is_repository_file(path)):
            continue
        lineno = change.site.get("lineno")
        amount = site_amount(change, iterations_of(scenario))
        warnings.append(
            command(
                "warning",
                f"{change.site.get('function', '?')}: {amount}, in {printable(nodeid)}",
                file=path,
                line=lineno if isinstance(lineno, int) else None,
            )
        )
    return errors[:ANNOTATIONS_PER_LEVEL] + warnings[:ANNOTATIONS_PER_LEVEL] + _dropped(errors, warnings)


def _dropped(errors: list[str], warnings: list[str]) -> list[str]:
    """One notice for the annotations GitHub would drop, so the reader knows there are more."""
    parts = []
    if len(errors) > ANNOTATIONS_PER_LEVEL:
        parts.append(f"{len(errors) - ANNOTATIONS_PER_LEVEL} more failing scenario(s)")
    if len(warnings) > ANNOTATIONS_PER_LEVEL:
        parts.append(f"{len(warnings) - ANNOTATIONS_PER_LEVEL} more grown allocation site(s)")
    if not parts:
        return []
    message = (
        f"{' and '.join(parts)} are not annotated: GitHub shows {ANNOTATIONS_PER_LEVEL} annotations "
        "of each level per step; the step summary and the reports list every failure"
    )
    return [command("notice", message)]
