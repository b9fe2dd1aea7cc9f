"""The files a session leaves for people and tools: the JSON report, the HTML page, the
Markdown summary, and GitHub's step summary. Each is rendered from the one public report
document; a write that fails is an error message for the summary, never a traceback, and
the other outputs are still written."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .config import GateConfig
from .errors import MemgateError
from .files import write_atomic


def write_error(what: str, path: Path, exc: Exception, kept: str) -> str:
    if isinstance(exc, MemgateError):
        return str(exc)
    cause = exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)
    return (
        f"memgate: could not write the {what} {path}: {cause}; check the path, its permissions and "
        f"the free space. The {what} was {kept}."
    )


def _json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _html(document: Mapping[str, Any]) -> str:
    from .reports.html import render_html

    return render_html(document)


def _markdown(document: Mapping[str, Any]) -> str:
    from .reports.markdown import render_markdown

    return render_markdown(document)


RENDERERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "report": _json,
    "html": _html,
    "markdown": _markdown,
}


def write_outputs(
    config: GateConfig, document: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[list[tuple[str, str]], list[str]]:
    """(files written as (what, path), errors) for every output the configuration asks for."""
    files: list[tuple[str, str]] = []
    errors: list[str] = []
    for key, render in RENDERERS.items():
        path = config.output_path(key)
        if path is None:
            continue
        try:
            write_atomic(path, render(document))
            files.append((key, str(path)))
        except (MemgateError, OSError) as exc:
            errors.append(write_error(key, path, exc, "not written"))
    summary = environ.get("GITHUB_STEP_SUMMARY", "")
    if summary:
        from .reports.github import step_summary

        try:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(step_summary(document) + "\n")
            files.append(("GitHub step summary", summary))
        except OSError as exc:
            errors.append(write_error("GitHub step summary", Path(summary), exc, "not written"))
    return files, errors


def github_annotations(
    document: Mapping[str, Any],
    environ: Mapping[str, str],
    locations: Mapping[str, tuple[str, int]],
    rootdir: Path,
) -> list[str]:
    """Workflow commands for GitHub Actions (``::error`` on a failing scenario's definition,
    ``::warning`` on the site that grew most), with paths relative to the repository;
    nothing elsewhere."""
    if environ.get("GITHUB_ACTIONS") != "true":
        return []
    from .reports.github import annotations

    workspace = Path(environ.get("GITHUB_WORKSPACE") or rootdir).resolve()
    try:
        root = rootdir.resolve().relative_to(workspace).as_posix()
    except ValueError:
        workspace, root = rootdir.resolve(), ""
    root = "" if root == "." else root
    return annotations(
        document,
        test_locations=locations,
        root=root,
        is_repository_file=lambda p: (workspace / p).is_file(),
    )


def process_environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ
