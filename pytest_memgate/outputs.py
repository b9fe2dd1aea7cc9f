"""The files a session leaves for people and tools: the JSON report, the HTML page with
memray's flame graphs beside it, the Markdown summary, and GitHub's step summary. Each is
rendered from the one public report document; a write that fails is an error message for
the summary, never a traceback, and the other outputs are still written. A flame graph that
cannot be rendered is a warning: the page goes without its link."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .backends.sites import EXTERNAL
from .config import GateConfig
from .errors import MemgateError
from .files import append_text, write_atomic


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


def shown_path(path: Path, rootdir: Path) -> str:
    """A kept file as reports show it: relative to the rootdir, else ``<external>/<name>``."""
    try:
        return path.resolve().relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        return f"{EXTERNAL}/{path.name}"


def write_flamegraphs(
    config: GateConfig, document: dict[str, Any], captures: Mapping[str, str]
) -> tuple[dict[str, str], list[tuple[str, str]], list[str]]:
    """memray's flame graphs of the kept ``captures`` ({scenario: capture}) beside the HTML
    report, when one is written. Returns (links relative to the page, files, warnings), and
    sets each scenario's ``capture`` and ``flamegraph`` in ``document`` (relative paths)."""
    from .captures import flamegraph_dir, render_flamegraphs

    html = config.output_path("html")
    rendered: dict[str, Path] = {}
    warnings: list[str] = []
    scenarios = [s for s in document.get("scenarios") or () if isinstance(s, dict)]
    if html is not None and captures:
        growth = {str(s.get("id")) for s in scenarios if "growth" in (s.get("reasons") or ())}
        wanted = {nodeid: (capture, nodeid in growth) for nodeid, capture in captures.items()}
        rendered, warnings = render_flamegraphs(wanted, flamegraph_dir(html), config.rootdir)
    for scenario in scenarios:
        nodeid = str(scenario.get("id"))
        capture, flamegraph = captures.get(nodeid), rendered.get(nodeid)
        scenario["capture"] = None if capture is None else shown_path(Path(capture), config.rootdir)
        scenario["flamegraph"] = None if flamegraph is None else shown_path(flamegraph, config.rootdir)
    files: list[tuple[str, str]] = []
    if rendered and html is not None:
        files.append((f"{len(rendered)} flame graph(s)", str(flamegraph_dir(html))))
    keep = config.output_path("keep_captures")
    if keep is not None and captures:
        files.append((f"{len(captures)} memray capture(s)", str(keep)))
    links = {nodeid: f"{path.parent.name}/{path.name}" for nodeid, path in rendered.items()}
    return links, files, warnings


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
