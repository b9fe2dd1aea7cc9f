"""Nothing outlives a run: pytest cancelled, interrupted or killed mid-run, and runs that time out.

Each test starts ``python -m pytest --memgate`` on a small project as a CI runner would,
waits until the measuring children run the scenario (each writes a marker file holding the
pids it started), signals the pytest process, and then looks every process of that tree up
by the pid recorded beforehand. ``TMPDIR`` points at a fresh directory, so that captures
left behind can be seen.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import psutil
import pytest

pytestmark = pytest.mark.slow

MARKER = """
import os, subprocess, time
import pytest


def mark(*pids):
    # one file per measuring child, written whole: the test reads it as soon as it appears
    path = os.path.join(os.environ["MEMGATE_TEST_MARKS"], str(os.getpid()))
    with open(path + ".tmp", "w") as handle:
        handle.write("".join("%d\\n" % pid for pid in pids))
    os.replace(path + ".tmp", path)
"""

HANGS = (
    MARKER
    + """

@pytest.mark.memload(iterations=5, warmup=0, timeout={timeout})
def test_hangs():
    sleeper = subprocess.Popen(["sleep", "60"])
    mark(sleeper.pid)
    time.sleep(60)
"""
)


def _default_stop_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# A scenario's subprocesses that leave its process group and its process tree: a sleeper in a
# session of its own, and a double fork whose grandchild calls setsid and is re-parented.
ESCAPES = (
    MARKER
    + """
import sys

DOUBLE_FORK = (
    "import os\\n"
    "pid = os.fork()\\n"
    "if pid == 0:\\n"
    "    os.setsid()\\n"
    "    grandchild = os.fork()\\n"
    "    if grandchild == 0:\\n"
    "        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)\\n"  # the pipe's EOF ends the run() below
    "        os.execvp('sleep', ['sleep', '302'])\\n"
    "    print(grandchild, flush=True)\\n"
    "    os._exit(0)\\n"
    "os.waitpid(pid, 0)\\n"
)
_started = []


@pytest.mark.memload(iterations=5, warmup=0, timeout=120)
def test_escapes():
    if not _started:  # once per measuring child
        sleeper = subprocess.Popen(["sleep", "301"], start_new_session=True)
        out = subprocess.run(
            [sys.executable, "-c", DOUBLE_FORK],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            check=True,
        )
        _started.extend([sleeper.pid, int(out.stdout)])
        mark(*_started)
    if os.environ.get("MEMGATE_TEST_HANG"):
        time.sleep(60)
    if os.environ.get("MEMGATE_TEST_SIGKILL"):  # as the OOM killer would
        os.kill(os.getpid(), 9)
"""
)

SETTLE_S = 10.0  # how long the processes of a cancelled run may take to be gone


class Project:
    """A pytester project and the pytest process running it, with what it started."""

    def __init__(self, pytester: pytest.Pytester, timeout: int, source: str | None = None) -> None:
        self.path = pytester.path
        pytester.makepyfile(test_hang=HANGS.format(timeout=timeout) if source is None else source)
        self.marks = self.path / "marks"
        self.temp = self.path / "tmp"
        self.marks.mkdir()
        self.temp.mkdir()
        self.process: subprocess.Popen[bytes] | None = None
        self.tree: list[psutil.Process] = []

    def start(self, **extra_env: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "TMPDIR": str(self.temp), "MEMGATE_TEST_MARKS": str(self.marks), **extra_env}
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
        with open(self.path / "output.txt", "wb") as output:  # a file: a pipe would wait for orphans
            self.process = subprocess.Popen(
                [*command, "--memgate"],
                cwd=self.path,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                # as a terminal's pytest has them: a suite started in the background (`cmd &`
                # in a script) inherits SIGINT ignored, which Python would then keep
                preexec_fn=_default_stop_signals,
            )
        return self.process

    @property
    def output(self) -> str:
        return (self.path / "output.txt").read_text(errors="replace")

    def children_running(self, within_s: float = 90.0) -> list[psutil.Process]:
        """Both measuring children inside the scenario: the pytest process, everything it
        started (children, their subprocesses, the janitor), recorded by pid."""
        assert self.process is not None
        deadline = time.monotonic() + within_s
        while len(self.marked()) < 2:
            assert self.process.poll() is None, f"pytest ended before the scenario ran:\n{self.output}"
            assert time.monotonic() < deadline, f"the scenario never started:\n{self.output}"
            time.sleep(0.05)
        pytest_process = psutil.Process(self.process.pid)
        found = {p.pid: p for p in [pytest_process, *pytest_process.children(recursive=True)]}
        for pid in self.marked() + self.started():
            if pid not in found:
                try:
                    found[pid] = psutil.Process(pid)
                except psutil.NoSuchProcess:  # a run that timed out already: gone is what we want
                    pass
        self.tree = list(found.values())
        return self.tree

    def marked(self) -> list[int]:
        return [int(p.name) for p in self.marks.iterdir() if not p.name.endswith(".tmp")]

    def started(self) -> list[int]:
        return [int(line) for pid in self.marked() for line in (self.marks / str(pid)).read_text().split()]

    def captures(self) -> list[str]:
        return sorted(p.name for p in self.temp.glob("memgate-run-*"))

    def cleanup(self) -> None:
        """After a failed test: nothing of it may keep running."""
        for process in self.tree:
            try:
                process.kill()
            except psutil.Error:
                pass
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def still_running(processes: list[psutil.Process]) -> list[str]:
    """Those not gone yet. A zombie is gone: orphans are reparented to a PID 1 that may never
    reap them. ``is_running`` compares creation times, so a reused pid is not mistaken."""
    left = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{process.pid} {' '.join(process.cmdline()[:4])}")
        except psutil.NoSuchProcess:
            pass
    return left


def settled(project: Project) -> tuple[list[str], list[str]]:
    """(processes still running, captures left), once both are empty or ``SETTLE_S`` has passed."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        left, captures = still_running(project.tree), project.captures()
        if (not left and not captures) or time.monotonic() > deadline:
            return left, captures
        time.sleep(0.05)


MakeProject = Callable[..., Project]


@pytest.fixture
def project(pytester: pytest.Pytester) -> Iterator[MakeProject]:
    made: list[Project] = []

    def make(timeout: int, source: str | None = None) -> Project:
        made.append(Project(pytester, timeout, source))
        return made[-1]

    yield make
    for each in made:
        each.cleanup()


@pytest.mark.parametrize(
    ("signum", "returncode"),
    [
        pytest.param(signal.SIGTERM, -signal.SIGTERM, id="SIGTERM"),  # a cancelled CI job
        pytest.param(signal.SIGKILL, -signal.SIGKILL, id="SIGKILL"),  # ... past its grace period
        pytest.param(signal.SIGINT, pytest.ExitCode.INTERRUPTED, id="SIGINT"),  # Ctrl-C
    ],
)
def test_a_cancelled_pytest_leaves_no_process_and_no_capture(
    project: MakeProject, signum: int, returncode: int
) -> None:
    run = project(300)
    process = run.start()
    tree = run.children_running()
    # pytest, the janitor, two measuring children and the sleep each of them started
    assert len(tree) >= 5, [p.cmdline() for p in tree]
    assert len(run.captures()) == 2
    os.kill(process.pid, signum)
    assert process.wait(timeout=60) == returncode, run.output
    left, captures = settled(run)
    assert left == [], run.output
    assert captures == []


def test_a_timed_out_run_takes_its_own_subprocesses_with_it(project: MakeProject) -> None:
    run = project(3)
    process = run.start()
    run.children_running()
    assert process.wait(timeout=120) == pytest.ExitCode.TESTS_FAILED, run.output
    assert "timed out after 3 s and was killed" in run.output
    assert len(run.started()) == 2  # one sleep per measuring child
    left, captures = settled(run)
    assert left == [], run.output
    assert captures == []


def survivors(run: Project, pids: list[int]) -> list[int]:
    """Those of ``pids`` still running once ``SETTLE_S`` has passed (kept for the cleanup)."""
    deadline = time.monotonic() + SETTLE_S
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = alive(pids)
    for pid in left:
        try:
            run.tree.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    return left


def alive(pids: list[int]) -> list[int]:
    """Those still running (a zombie is gone; see ``still_running``)."""
    left = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            pass
    return left


@pytest.mark.parametrize(
    ("env", "returncode"),
    [
        pytest.param({}, pytest.ExitCode.OK, id="ended-normally"),
        # the child's orphans go to the next subreaper up: the pytest process
        pytest.param({"MEMGATE_TEST_SIGKILL": "1"}, pytest.ExitCode.TESTS_FAILED, id="child-killed"),
    ],
)
def test_subprocesses_that_leave_the_process_group_do_not_outlive_a_run(
    project: MakeProject, env: dict[str, str], returncode: int
) -> None:
    run = project(120, ESCAPES)
    process = run.start(**env)
    assert process.wait(timeout=120) == returncode, run.output
    started = run.started()
    assert len(started) >= 4, run.output  # two escapes in each measuring child
    assert survivors(run, started) == [], run.output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_subprocesses_that_leave_the_process_group_die_with_a_cancelled_pytest(
    project: MakeProject, signum: int
) -> None:
    run = project(120, ESCAPES)
    process = run.start(MEMGATE_TEST_HANG="1")
    run.children_running()
    started = run.started()
    assert len(started) == 4, run.output
    os.kill(process.pid, signum)
    assert process.wait(timeout=60) == -signum, run.output
    assert survivors(run, started) == [], run.output
