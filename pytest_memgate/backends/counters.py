"""Counters read at each floor of a cheap run: exact, and costing microseconds a call.

glibc's ``mallinfo2`` gives the bytes ``malloc`` has handed out and not taken back (native
buffers, and Python objects over 512 bytes), with no allocator retention in the figure;
``sys.getallocatedblocks`` counts pymalloc's blocks, one per small Python object, which
RSS and an untraced heap see only as whole pages or 1 MiB arenas. Together they see a
scenario's steady-state growth without a tracker (``memray.measure_cheap``).
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


@functools.lru_cache(maxsize=1)
def malloc_in_use() -> Callable[[], int] | None:
    """Bytes in use from ``malloc`` (small chunks and mmapped ones), or None where glibc's
    ``mallinfo2`` (2.33 and later) is not there: macOS, musl, older glibc."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _Mallinfo2
    mallinfo2.argtypes = []

    def in_use() -> int:
        info = mallinfo2()
        return int(info.uordblks + info.hblkhd)

    return in_use
