"""The session's end: the public report document, built once, and every file and line a
session leaves for people and tools from it: the JSON report, the HTML page with memray's
flame graphs beside it, the Markdown summary, GitHub's step summary and its annotations.

A write that fails is an error message for the summary, never a traceback, and the other
outputs are still written. A flame graph that cannot be rendered is a warning: the page goes
without its link.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .backends.sites import EXTERNAL
from .config import GateConfig
from .errors import MemgateError
from .files import append_text, write_atomic
from .results import Reason, SessionReport
from .summary import shown


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


def _html(document: Mapping[str, Any], flamegraphs: Mapping[str, str] | None = None) -> str:
    from .reports.html import render_html

    return render_html(document, flamegraphs=flamegraphs)


def _markdown(document: Mapping[str, Any]) -> str:
    from .reports.markdown import render_markdown

    return render_markdown(document)


RENDERERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "report": _json,
    "html": _html,
    "markdown": _markdown,
}


def wants_document(config: GateConfig, environ: Mapping[str, str]) -> bool:
    """Whether any output needs the public document (a report file, or GitHub Actions)."""
    return any(config.output_path(key) is not None for key in RENDERERS) or bool(
        environ.get("GITHUB_STEP_SUMMARY") or environ.get("GITHUB_ACTIONS") == "true"
    )


@dataclass(frozen=True, slots=True)
class Outputs:
    """What writing the outputs left, for the summary: nothing here is read again."""

    files: list[tuple[str, str]]  # (what, path), flame graphs and kept captures included
    errors: list[str]  # writes that failed
    warnings: list[str]  # flame graphs that could not be rendered
    annotations: list[str]  # GitHub Actions workflow commands, printed after the table


def write_documents(
    config: GateConfig,
    report: SessionReport,
    provenance: Mapping[str, Any],
    environ: Mapping[str, str],
    locations: Mapping[str, tuple[str, int]],
) -> Outputs:
    """memray's flame graphs of the kept captures, then the public document of ``report``
    (built once, with the captures and flame graphs it names) and every output the
    configuration asks for; a write that fails is an error in the result."""
    from .reports.json import build_report

    captures = {r.nodeid: r.capture for r in report.results if r.capture is not None}
    growth = {r.nodeid for r in report.results if Reason.GROWTH in r.verdict.reasons}
    rendered, kept, warnings = write_flamegraphs(config, captures, growth)
    document = build_report(
        replace(report, provenance=provenance),
        kept={r.nodeid: kept_paths(config, r.capture, rendered.get(r.nodeid)) for r in report.results},
    )
    links = {nodeid: f"{path.parent.name}/{path.name}" for nodeid, path in rendered.items()}
    files, errors = write_outputs(config, document, environ, flamegraphs=links)
    annotations = github_annotations(document, environ, locations, config.rootdir)
    return Outputs(files + kept, errors, warnings, annotations)


def kept_paths(
    config: GateConfig, capture: str | None, flamegraph: Path | None
) -> tuple[str | None, str | None]:
    """A scenario's kept capture and flame graph as the document names them."""
    return (
        None if capture is None else shown(Path(capture), config.rootdir, outside=EXTERNAL),
        None if flamegraph is None else shown(flamegraph, config.rootdir, outside=EXTERNAL),
    )


def write_flamegraphs(
    config: GateConfig, captures: Mapping[str, str], growth: set[str]
) -> tuple[dict[str, Path], list[tuple[str, str]], list[str]]:
    """memray's flame graphs of the kept ``captures`` ({scenario: capture}) beside the HTML
    report, when one is written (of the leaks for the scenarios in ``growth``). Returns
    ({scenario: flame graph}, files, warnings)."""
    from .captures import flamegraph_dir, render_flamegraphs

    html = config.output_path("html")
    rendered: dict[str, Path] = {}
    warnings: list[str] = []
    if html is not None and captures:
        wanted = {nodeid: (capture, nodeid in growth) for nodeid, capture in captures.items()}
        rendered, warnings = render_flamegraphs(wanted, flamegraph_dir(html), config.rootdir)
    files: list[tuple[str, str]] = []
    if rendered and html is not None:
        files.append((f"{len(rendered)} flame graph(s)", str(flamegraph_dir(html))))
    keep = config.output_path("keep_captures")
    if keep is not None and captures:
        files.append((f"{len(captures)} memray capture(s)", str(keep)))
    return rendered, files, warnings


def write_outputs(
    config: GateConfig,
    document: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    flamegraphs: Mapping[str, str] | None = None,
) -> tuple[list[tuple[str, str]], list[str]]:
    """(files written as (what, path), errors) for every output the configuration asks for.
    ``flamegraphs`` links scenarios of the HTML page to their flame graph (see above)."""
    files: list[tuple[str, str]] = []
    errors: list[str] = []
    for key, render in RENDERERS.items():
        path = config.output_path(key)
        if path is None:
            continue
        try:
            write_atomic(path, _html(document, flamegraphs) if key == "html" else render(document))
            files.append((key, str(path)))
        except (MemgateError, OSError) as exc:
            errors.append(write_error(key, path, exc, "not written"))
    summary = environ.get("GITHUB_STEP_SUMMARY", "")
    if summary:
        from .reports.comment import STEP_SUMMARY_LIMIT
        from .reports.github import step_summary

        try:
            path = Path(summary)
            # the step's earlier output shares the limit with this summary
            room = STEP_SUMMARY_LIMIT - (path.stat().st_size if path.is_file() else 0) - 1
            append_text(path, step_summary(document, limit=max(room, 0)) + "\n")
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
