"""A pytest run in a subprocess, timed, and the error when one fails: shared by the benchmark
scripts, whose tables are built from these wall times."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def timed_pytest(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    python: str = sys.executable,
) -> tuple[subprocess.CompletedProcess[str], float]:
    """``python -m pytest -p no:cacheprovider -q *args`` in ``cwd``, and its wall time in seconds."""
    started = time.perf_counter()
    done = subprocess.run(
        [python, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done, time.perf_counter() - started


def run_failure(what: str, done: subprocess.CompletedProcess[str], lines: int = 30) -> RuntimeError:
    """The error for a run that failed, with the last ``lines`` lines it printed."""
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-lines:])
    return RuntimeError(f"{what} failed (exit {done.returncode}):\n{tail}")
