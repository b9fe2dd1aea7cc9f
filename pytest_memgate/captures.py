"""memray's captures kept past their run, and memray's own flame graphs rendered from them.

A capture is removed with its run's work directory unless the session keeps it. When an
HTML report is written, a regressing scenario's last run (the one that confirmed the
regression) keeps its capture in ``<report stem>-flamegraphs/`` beside the report, and
memray's flame graph of it is rendered there and linked from the scenario. With
``keep_captures DIR`` every scenario keeps the capture of its last successful run in DIR
(and gets a flame graph too when an HTML report is written).

Flame graphs are rendered by ``python -m memray flamegraph`` in a subprocess: the command
is memray's stable interface, and a renderer that fails or runs out of memory costs its
own file only, never the session. ``--no-web`` puts memray's scripts into the file, so the
page opens without a network like the report does (about 4.5 MB a file, where the CDN
version is about 120 KB). A scenario that regressed on growth gets the ``--leaks`` view:
what was still allocated when tracking ended, which is where a per-call leak piles up; the
default view (at the heap's peak) would bury a small leak under the transient peak.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from .backends import janitor
from .backends.sites import EXTERNAL
from .config import GateConfig
from .files import write_atomic

RENDER_TIMEOUT_S = 300.0
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


CAPTURE_NAME = "capture.bin"  # where backends/memray.py leaves its capture in a run's work directory
_KEEP_CAPTURE: ContextVar[Path | None] = ContextVar("memgate_keep_capture", default=None)


@contextmanager
def keeping_capture(path: Path | None) -> Iterator[None]:
    """Runs inside keep the heap phase's capture at ``path`` (each run replaces the last).

    A context rather than an argument: the session's run function keeps its signature
    (body, request, timeout), which the tests' injected runs share, and runs that have no
    capture (tracemalloc, an injected run) simply leave nothing at ``path``.
    """
    token = _KEEP_CAPTURE.set(path)
    try:
        yield
    finally:
        _KEEP_CAPTURE.reset(token)


def capture_to_keep() -> Path | None:
    """Where the run taken now keeps its capture (``keeping_capture``), if anywhere."""
    return _KEEP_CAPTURE.get()


def keep_capture(capture: Path, keep: Path) -> None:
    """Move a run's capture out of its work directory (``runner.py``) before that is removed.
    A capture that cannot be kept (a full disk, a read-only directory) costs its flame graph,
    not the run: the session finds no file at ``keep``, and pytest's warnings summary says why."""
    if not capture.is_file():
        return
    try:
        keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(capture), str(keep))  # across file systems too (/tmp to the project)
    except OSError as exc:
        capture_not_kept(keep, exc)


def safe_name(nodeid: str) -> str:
    """A file name for a scenario: readable, distinct for distinct ids, valid anywhere."""
    readable = _UNSAFE.sub("_", nodeid).strip("._-")[:80] or "scenario"
    return f"{readable}-{hashlib.sha256(nodeid.encode()).hexdigest()[:8]}"


def flamegraph_dir(html: Path) -> Path:
    """Where the flame graphs of the HTML report ``html`` go: beside it, named after it."""
    return html.parent / f"{html.stem}-flamegraphs"


def without_machine_paths(text: str, root: str | Path | None, *, external: str = EXTERNAL + "/") -> str:
    """``text`` with this machine's directories cut out, as allocation sites read: the
    project's, the library roots' (site-packages) and the standard library's go, any other
    path under the interpreter's prefixes or a ``sys.path`` entry becomes ``external``, and
    the home directory ``~/``. What is left reads the same on every machine, and names no
    user of this one."""
    cuts: list[tuple[str, str]] = []
    if root:
        cuts += [(str(root), "")]
    cuts += [(directory, "") for directory in _library_dirs()]
    cuts += [(prefix, external) for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}]
    cuts += [(entry, external) for entry in sys.path if entry and os.path.isabs(entry)]
    home = os.path.expanduser("~")
    if home not in ("~", "/", ""):
        cuts += [(home, "~/")]
    spelled: dict[str, str] = {}  # the first reading of a directory wins (the project's)
    for directory, replacement in cuts:
        for spelling in (directory, os.path.realpath(directory)):
            spelled.setdefault(os.path.join(spelling, ""), replacement)
    for prefix, replacement in sorted(spelled.items(), key=lambda cut: -len(cut[0])):  # deepest first
        if len(prefix) > 1:
            text = text.replace(prefix, replacement)
    return text


def _library_dirs() -> list[str]:
    """site-packages (the user's too) and the standard library of this interpreter."""
    paths = sysconfig.get_paths()
    found = [paths.get(key, "") for key in ("purelib", "platlib", "stdlib", "platstdlib")]
    with contextlib.suppress(AttributeError):  # site may be trimmed in embedded interpreters
        found += [*site.getsitepackages(), site.getusersitepackages()]
    return [path for path in dict.fromkeys(found) if path and os.path.isabs(path)]


@dataclass(frozen=True, slots=True)
class CaptureKeeper:
    """Which captures a session keeps, and where."""

    keep_dir: Path | None  # keep_captures: one capture of every scenario
    flame_dir: Path | None  # beside the HTML report: regressions' captures and the flame graphs

    @classmethod
    def from_config(cls, config: GateConfig) -> CaptureKeeper | None:
        """None when nothing is kept: no HTML report and no ``keep_captures``."""
        keep, html = config.output_path("keep_captures"), config.output_path("html")
        if keep is None and html is None:
            return None
        return cls(keep.absolute() if keep else None, flamegraph_dir(html).absolute() if html else None)

    def staging(self, nodeid: str) -> Path:
        """Where a scenario's runs leave their capture (each run replaces the last one's):
        its place in ``keep_dir``, else a temporary directory until the verdict is known."""
        if self.keep_dir is not None:
            path = self.keep_dir / f"{safe_name(nodeid)}.bin"
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)  # an earlier session's capture is not this one's
            return path
        temporary = Path(tempfile.mkdtemp(prefix="memgate-capture-"))
        keeper = janitor.current()
        if keeper is not None:
            keeper.watch_dir(temporary)  # removed even if pytest is killed
        return temporary / f"{safe_name(nodeid)}.bin"

    def settle(self, staged: Path, regressed: bool) -> str | None:
        """The absolute path of the capture kept for the scenario, or None; a capture that is
        not kept is removed now."""
        if self.keep_dir is not None:
            return str(staged) if staged.is_file() else None
        kept: str | None = None
        try:
            if regressed and self.flame_dir is not None and staged.is_file():
                self.flame_dir.mkdir(parents=True, exist_ok=True)
                target = self.flame_dir / staged.name
                try:
                    shutil.move(str(staged), str(target))  # a copy where /tmp is another disk
                except OSError as exc:
                    capture_not_kept(target, exc)
                else:
                    kept = str(target)
        except OSError:
            kept = None  # the report goes without this flame graph; the run's figures stand
        finally:
            shutil.rmtree(staged.parent, ignore_errors=True)
            keeper = janitor.current()
            if keeper is not None:
                keeper.release_dir(staged.parent)
        return kept


def capture_not_kept(path: Path, exc: OSError) -> None:
    """A capture that could not be kept (a full disk): remove what was partly written, which
    memray could not read, and say so in pytest's warnings summary."""
    import warnings

    from .notices import MemgateWarning

    with contextlib.suppress(OSError):
        path.unlink()
    warnings.warn(
        MemgateWarning(
            f"memgate: could not keep the memray capture {path}: {exc.strerror or exc}; the scenario "
            "goes without its flame graph (its figures stand). Free space there, or point "
            "--memgate-keep-captures or --memgate-html elsewhere"
        ),
        stacklevel=2,
    )


def check_output_dirs(config: GateConfig) -> None:
    """Refuse a capture or flame-graph directory that lies in the project as given but leads
    out of it through a symbolic link: captures hold the project's code paths and allocation
    sizes, and must land where they were asked to. A directory given outside the project is
    taken as given."""
    from .errors import ConfigError

    root = Path(os.path.abspath(config.rootdir))
    keep, html = config.output_path("keep_captures"), config.output_path("html")
    wanted = [("--memgate-keep-captures directory", keep)] if keep is not None else []
    if html is not None:
        wanted.append(("flame-graph directory of --memgate-html", flamegraph_dir(html)))
    for what, directory in wanted:
        given = Path(os.path.abspath(directory))
        if not given.is_relative_to(root):
            continue
        real = given.resolve()
        if not real.is_relative_to(root.resolve()):
            raise ConfigError(
                f"memgate: the {what} {given} leads out of the project to {real} through a "
                f"symbolic link; remove the link, or pass {real} itself if the files belong there"
            )


class RenderError(Exception):
    """memray could not render a flame graph; the message says why in one line."""


def render_flamegraph(capture: Path, output: Path, *, leaks: bool, root: Path) -> None:
    """memray's flame graph of ``capture`` at ``output``, without this machine's paths."""
    with tempfile.TemporaryDirectory(prefix="memgate-flamegraph-") as scratch:
        rendered = Path(scratch) / "flamegraph.html"
        command = [sys.executable, "-m", "memray", "flamegraph", "--no-web", "-o", str(rendered)]
        if leaks:
            command.append("--leaks")
        try:
            done = subprocess.run(
                [*command, str(capture)],
                capture_output=True,
                text=True,
                timeout=RENDER_TIMEOUT_S,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise RenderError(f"memray took longer than {RENDER_TIMEOUT_S:g} s") from None
        except OSError as exc:
            raise RenderError(f"memray could not be started ({exc.strerror or exc})") from None
        if done.returncode != 0 or not rendered.is_file():
            said = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
            why = said[-1] if said else f"exit status {done.returncode}"
            raise RenderError(f"memray flamegraph failed: {without_machine_paths(why, root)}")
        try:
            text = rendered.read_text(encoding="utf-8", errors="replace")
            # The paths are in memray's JSON, where "<" is written \u003c (HTML-safe).
            write_atomic(output, without_machine_paths(text, root, external="\\u003cexternal\\u003e/"))
        except OSError as exc:
            raise RenderError(f"could not write it ({exc.strerror or exc})") from None


def render_flamegraphs(
    captures: Mapping[str, tuple[str, bool]], out_dir: Path, root: Path
) -> tuple[dict[str, Path], list[str]]:
    """({scenario: flame graph}, warnings) for ``captures`` ({scenario: (capture, leaks)}).
    A flame graph that cannot be rendered is a warning: the report goes without its link."""
    rendered: dict[str, Path] = {}
    warnings: list[str] = []
    for nodeid, (capture, leaks) in sorted(captures.items()):
        output = out_dir / f"{safe_name(nodeid)}.html"
        try:
            if not Path(capture).is_file():
                raise RenderError("its memray capture is gone")
            render_flamegraph(Path(capture), output, leaks=leaks, root=root)
        except RenderError as exc:
            warnings.append(
                f"memgate: warning: no flame graph for {nodeid}: {exc}; the HTML report was written "
                "without its link"
            )
            continue
        rendered[nodeid] = output
    return rendered, warnings
