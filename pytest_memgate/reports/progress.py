"""Progress while a scenario is measured, the pytest way: quiet with -q, one growing line
per scenario by default, each run's figures with -v. Runs can take minutes; silence
for that long reads as a hang."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Protocol

from ..model import RunRecord, RunSummary
from ..results import Note, ScenarioResult, ScreenDoubt, Verdict
from ..schedule import CONFIRM_BEYOND
from ..units import format_size, plural
from .looks import look_text, run_figures, screen_text
from .words import note_text, printable


class Terminal(Protocol):
    """The part of pytest's TerminalReporter the progress uses."""

    def ensure_newline(self) -> None: ...

    def write(self, content: str, *, flush: bool = False) -> None: ...

    def write_line(self, line: str) -> None: ...


class LiveTerminal:
    """Writes to the terminal while a test runs: output capture is paused for each write,
    as pytest's own live logging does, so progress is seen as it happens."""

    def __init__(self, terminal: Terminal, capture: Any) -> None:
        self.terminal = terminal
        self.capture = capture

    def _paused(self) -> contextlib.AbstractContextManager[None]:
        if self.capture is None:
            return contextlib.nullcontext()
        paused: contextlib.AbstractContextManager[None] = self.capture.global_and_fixture_disabled()
        return paused

    def ensure_newline(self) -> None:
        with self._paused():
            self.terminal.ensure_newline()
            # Under xdist the result letters are written with no file path on their line, which
            # pytest's ensure_newline does not see: a line begun is ended here.
            writer = getattr(self.terminal, "_tw", None)
            if getattr(writer, "width_of_current_line", 0):
                self.terminal.write("\n")

    def write(self, content: str, *, flush: bool = False) -> None:
        with self._paused():
            self.terminal.write(content, flush=flush)

    def write_line(self, line: str) -> None:
        with self._paused():
            self.terminal.write_line(line)


class ProgressPrinter:
    def __init__(self, terminal: Terminal, verbosity: int) -> None:
        self.terminal = terminal
        self.verbose = verbosity > 0

    def started(self, nodeid: str, looks: Sequence[int], notes: tuple[Note, ...]) -> None:
        nodeid = printable(nodeid)  # an id's escape codes or newlines must not reach the terminal
        self.terminal.ensure_newline()
        if self.verbose:
            jump = CONFIRM_BEYOND * looks[-1]
            self.terminal.write_line(
                f"memgate {nodeid}: up to {looks[-1]} runs ({jump} to confirm a jump in peak), "
                f"looks at {list(looks)}"
            )
            for note in notes:
                self.terminal.write_line(f"  note: {printable(note_text(note))}")
        else:
            self.terminal.write(f"memgate {nodeid}: run", flush=True)

    def ran(self, nodeid: str, number: int, record: RunRecord, summary: RunSummary | None) -> None:
        """``number`` 0 is a cheap run (the first look, or one taken for the baseline)."""
        name = f"run {number}" if number else "cheap run"
        if not self.verbose:
            self.terminal.write(f" {number or 'cheap'}", flush=True)
            return
        if summary is None:
            self.terminal.write_line(f"  {name}: {record.status.value.replace('_', ' ')}")
            return
        figures = run_figures(
            summary.peak_heap_bytes,
            summary.heap_growth,
            summary.peak_rss_bytes,
            summary.rss_growth,
            record.wall_s,
        )
        self.terminal.write_line(f"  {name}: {figures}")

    def looked(
        self, nodeid: str, runs: int, verdict: Verdict, stopping: bool, doubt: ScreenDoubt | None = None
    ) -> None:
        """``runs`` 0 is the cheap first look: stopping there is a clear pass; anything else
        goes on to the traced runs, and ``doubt`` says why."""
        text = look_text(verdict, stopping) if runs else screen_text(verdict, doubt)
        if self.verbose:
            where = f"after {plural(runs, 'run')}" if runs else "first (cheap)"
            self.terminal.write_line(f"  look {where}: {text}")
        elif stopping:
            self.terminal.write(f" -> {text} ", flush=True)  # pytest's result letter follows
        else:
            self.terminal.write(f" [{text}]", flush=True)

    def finished(self, result: ScenarioResult) -> None:
        if not self.verbose and result.verdict.error:
            self.terminal.write(f" -> {result.outcome.value} ", flush=True)

    def arrived(self, result: ScenarioResult, worker: str, done: int) -> None:
        """On the xdist controller, one line per scenario as its result arrives from a worker:
        the workers' own progress never reaches the terminal, and dots alone for minutes read
        as a hang."""
        from .terminal import verdict_cell

        figures = ""
        if result.measured:
            peak = format_size(result.median("peak_heap_bytes"))
            growth = format_size(result.median("heap_growth"), signed=True)
            figures = f" (heap peak {peak}, growth {growth}/call)"
        runs = plural(len(result.records), "run")
        self.terminal.ensure_newline()
        self.terminal.write_line(
            f"memgate {printable(result.nodeid)} on {printable(worker)}: {printable(verdict_cell(result))} "
            f"after {runs}{figures} [{plural(done, 'scenario')} done]"
        )
