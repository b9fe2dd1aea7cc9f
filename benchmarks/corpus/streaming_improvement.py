"""Benign (improvement): a log shipper stops reading whole files into memory.

``before`` reads a 4 MiB log file at once, splits it into lines and filters them;
``after`` iterates the file line by line and ships filtered lines in small batches, so
the peak drops from several MiB to a few hundred KiB.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from collections.abc import Iterable

from . import Pair, Unit

LOG_LINES = 40_000
BATCH = 500


def _write_log() -> str:
    handle, path = tempfile.mkstemp(prefix="memgate-bench-", suffix=".log")
    with os.fdopen(handle, "w") as log:
        for i in range(LOG_LINES):
            level = ("INFO", "INFO", "WARN", "ERROR")[i % 4]
            log.write(f"2024-05-01T12:{i % 60:02d}:{i % 59:02d}Z {level} worker-{i % 16} request {i} done\n")
    atexit.register(os.remove, path)  # measured children leave through os._exit: only the owner runs this
    return path


class Shipper:
    def __init__(self, streaming: bool) -> None:
        self._path = _write_log()
        self._streaming = streaming
        self.shipped = 0

    def _ship(self, lines: Iterable[str]) -> None:
        self.shipped += sum(len(line) for line in lines)

    def __call__(self) -> int:
        sent = 0
        with open(self._path, encoding="utf-8") as log:
            if self._streaming:
                batch: list[str] = []
                for line in log:
                    if " ERROR " in line or " WARN " in line:
                        batch.append(line)
                        if len(batch) == BATCH:
                            self._ship(batch)
                            sent += len(batch)
                            batch = []
                self._ship(batch)
                sent += len(batch)
            else:
                lines = log.read().splitlines(keepends=True)
                wanted = [line for line in lines if " ERROR " in line or " WARN " in line]
                self._ship(wanted)
                sent += len(wanted)
        return sent


def before() -> Unit:
    return Shipper(streaming=False)


def after() -> Unit:
    return Shipper(streaming=True)


PAIR = Pair(
    name="streaming_improvement",
    kind="benign",
    expected=("improved", "pass"),
    reason=None,
    summary="log shipper: read whole 4 MiB file -> iterate lines, ship in batches of 500",
    before=before,
    after=after,
    iterations=50,
    warmup=5,
)
