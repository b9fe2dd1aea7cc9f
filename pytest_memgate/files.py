"""Reading and writing the gate's files safely: whole or not at all, never through a trap.

Used by the baseline store, the reports and the command line alike, so that none of
them needs another's module to write a file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
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
# The gate's documents nest about ten levels deep (report > scenario > run > site > stack >
# frame); far deeper is not one of ours, and could overflow the stack of code that walks it.
MAX_DOCUMENT_DEPTH = 64


def read_document_text(path: Path, what: str, fix: str, error: type[MemgateError] = MemgateError) -> str:
    """The text of a regular file of sane size; a FIFO or a device is refused, not read."""
    try:
        info = path.stat()
    except OSError as exc:
        raise error(f"memgate: cannot read {what}{path}: {exc.strerror}; {fix}") from None
    except ValueError:  # a NUL byte: no file can have that name
        raise error(
            f"memgate: cannot read {what}{str(path)!r}: the path contains a NUL byte; {fix}"
        ) from None
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


def _key_path(path: tuple[str | int, ...]) -> str:
    """``scenarios["t.py::test_a"].runs[3].heap_growth``: where a value sits, for messages."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part[:80])}]"
    return out


def _problem(document: Any) -> str | None:
    """The first non-finite number or the first place nested too deep, walked without
    recursion (the document may be the very thing that would exhaust the stack)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        node, path = stack.pop()
        if len(path) >= MAX_DOCUMENT_DEPTH:
            where = _key_path(path)
            return (
                f"nests more than {MAX_DOCUMENT_DEPTH} levels deep at {where}, deeper than any memgate file"
            )
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if isinstance(child, (dict, list)):
                stack.append((child, (*path, key)))
            elif isinstance(child, float) and not math.isfinite(child):
                where = _key_path((*path, key))
                if math.isnan(child):
                    return f"holds NaN at {where}, which is not a number JSON allows"
                return (
                    f"holds {'' if child > 0 else '-'}Infinity at {where} (or a number past the range "
                    "of a float, such as 1e999), which is not a number JSON allows"
                )
    return None


def decode_json(
    text: str, path: Path, fix: str, what: str = "", error: type[MemgateError] = MemgateError
) -> Any:
    """``json.loads`` whose error names the file, the place and the fix.

    NaN, Infinity (also as ``1e999``, which Python reads as infinity) and duplicate keys are
    refused: Python's json accepts them, and one NaN in a baseline run would silently switch
    a comparison off. So is nesting deeper than any memgate document, before anything walks
    it recursively.
    """
    try:
        document = json.loads(text, object_pairs_hook=_reject_duplicates)
    except json.JSONDecodeError as exc:
        raise error(
            f"memgate: {what}{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); {fix}"
        ) from None
    except RecursionError:
        raise error(f"memgate: {what}{path} nests deeper than any memgate file; {fix}") from None
    except ValueError as exc:
        reason = str(exc)
        if "digits" in reason:  # Python's guard against quadratic int parsing
            reason = "an integer of thousands of digits"
        raise error(f"memgate: {what}{path} is not valid JSON ({reason}); {fix}") from None
    if isinstance(document, float) and not math.isfinite(document):
        raise error(f"memgate: {what}{path} is not valid JSON (a bare {document}); {fix}")
    problem = _problem(document) if isinstance(document, (dict, list)) else None
    if problem is not None:
        raise error(f"memgate: {what}{path} {problem}; {fix}")
    return document


@contextlib.contextmanager
def locked(path: Path, error: type[MemgateError] = MemgateError) -> Iterator[None]:
    """An exclusive advisory lock beside ``path``, held across read-merge-write.

    The lock file is opened without following symlinks: a planted link must not make the
    gate create or truncate a file elsewhere. Any other file type there is refused too.
    """
    lock_path = path.with_name(path.name + ".lock")
    # O_NONBLOCK: a FIFO planted there must not block the open; it is refused just below.
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(lock_path, flags, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            problem = "is a symbolic link, which the gate does not follow; remove it and rerun"
        else:
            problem = f"cannot be created or opened ({exc.strerror}); check {lock_path.parent} is writable"
        raise error(f"memgate: lock file {lock_path} {problem}. {path} was left untouched") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise error(
                f"memgate: lock file {lock_path} is not a regular file; remove it and rerun. "
                f"{path} was left untouched"
            )
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _open_stream(path: Path, flags: int) -> int | None:
    """An open descriptor for writing when ``path`` is (or links to) a character device or a
    FIFO, such as ``/dev/stdout``; None for anything else. A stream cannot be replaced
    atomically, and renaming over its link would put a regular file in its place (as root,
    in ``/dev``). Opened without blocking: a FIFO that no process reads is an error
    (``ENXIO``) rather than a hang; the writes then block as usual."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    if not (stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
        return None
    try:
        fd = os.open(path, flags | os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO and stat.S_ISFIFO(info.st_mode):
            raise OSError(exc.errno, "it is a FIFO that no process reads", str(path)) from None
        raise
    os.set_blocking(fd, True)
    return fd


def _write_stream(fd: int, text: str) -> None:
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def append_text(path: Path, text: str) -> None:
    """Append to a file (GitHub's step summary), a device or a FIFO that a process reads;
    never blocks on a FIFO that none does, and never opens anything else for writing
    (a directory, a socket) as if it were a file."""
    fd = _open_stream(path, os.O_APPEND)
    if fd is not None:
        _write_stream(fd, text)
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between the two looks
            raise OSError(errno.EINVAL, "it is not a regular file", str(path))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    _write_stream(fd, text)


def write_atomic(path: Path, text: str) -> None:
    """Temp file in the same directory, fsync, rename: readers see old or new, never half.
    A character device or a FIFO (``-o /dev/stdout``) is written to as it is."""
    fd = _open_stream(path, 0)
    if fd is not None:
        _write_stream(fd, text)
        return
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
