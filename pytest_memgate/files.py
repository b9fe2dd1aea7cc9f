"""Reading and writing the gate's files safely: whole or not at all, never through a trap.

Used by the baseline store, the reports and the command line alike, so that none of
them needs another's module to write a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import MemgateError

# A baseline or report of thousands of scenarios stays far below this; anything larger is
# not one of ours (a symlink to /dev/zero, a log file passed by mistake).
MAX_DOCUMENT_BYTES = 256 * 1024**2


def read_document_text(path: Path, what: str, fix: str, error: type[MemgateError] = MemgateError) -> str:
    """The text of a regular file of sane size; a FIFO or a device is refused, not read."""
    try:
        info = path.stat()
    except OSError as exc:
        raise error(f"memgate: cannot read {what}{path}: {exc.strerror}; {fix}") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"memgate: {what}{path} is not a regular file; {fix}")
    if info.st_size > MAX_DOCUMENT_BYTES:
        raise error(f"memgate: {what}{path} is {info.st_size} bytes, more than any memgate file; {fix}")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise error(f"memgate: cannot read {what}{path}: {exc.strerror}; check its permissions") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"memgate: {what}{path} is not a UTF-8 text file; {fix}") from None


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def decode_json(
    text: str, path: Path, fix: str, what: str = "", error: type[MemgateError] = MemgateError
) -> Any:
    """``json.loads`` whose error names the file, the place and the fix.

    NaN, Infinity and duplicate keys are refused: Python's json accepts them, and one NaN
    in a baseline run would silently switch a comparison off.
    """
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise error(
            f"memgate: {what}{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); {fix}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise error(f"memgate: {what}{path} is not valid JSON ({exc}); {fix}") from None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock beside ``path``, held across read-merge-write.

    The lock file is opened without following symlinks: a planted link must not make the
    gate create or truncate a file elsewhere.
    """
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_atomic(path: Path, text: str) -> None:
    """Temp file in the same directory, fsync, rename: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide the file from teammates
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
