"""Regression: a native scratch buffer is no longer freed on one code path.

A thumbnail service hands image rows to a C routine through ctypes and needs a native
scratch buffer per image, taken with ``malloc`` and returned with ``free``. ``after``
added an early return for images that need no resizing and forgot the ``free`` there:
about 96 KiB of native memory per call stays allocated outside the Python heap.

``malloc`` is called through ctypes, i.e. through a pointer from ``dlsym``, not through
a library's PLT entry: heap trackers that intercept PLT entries do not see these calls.
The pages are touched, so the leak shows in resident memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import zlib

from . import Pair, Unit

SCRATCH = 96 * 1024
IMAGES_PER_CALL = 96
ROW = b"\x10\x20\x30\x40" * 1024  # one 4 KiB image row


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.restype = None
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


class Thumbnailer:
    def __init__(self, free_on_early_return: bool) -> None:
        self._libc = _libc()
        self._free_on_early_return = free_on_early_return
        self._image = 0
        self.leaked: list[int] = []  # addresses only: the memory is native

    def _thumbnail(self, needs_resize: bool) -> int:
        scratch = self._libc.malloc(SCRATCH)
        if not scratch:
            raise MemoryError("malloc failed")
        ctypes.memset(scratch, 0, SCRATCH)
        for offset in range(0, SCRATCH, len(ROW)):
            ctypes.memmove(scratch + offset, ROW, len(ROW))
        digest = zlib.crc32(ctypes.string_at(scratch, SCRATCH))
        if not needs_resize:
            if self._free_on_early_return:
                self._libc.free(scratch)
            else:
                self.leaked.append(scratch)
            return digest
        # a resize pass over the rows, then the buffer is returned
        digest = zlib.adler32(ctypes.string_at(scratch, SCRATCH // 2), digest)
        self._libc.free(scratch)
        return digest

    def __call__(self) -> int:
        self._image += 1
        digest = 0
        for i in range(IMAGES_PER_CALL):
            # one image per call is already small enough to need no resize
            digest ^= self._thumbnail(needs_resize=i != 0)
        return digest


def before() -> Unit:
    return Thumbnailer(free_on_early_return=True)


def after() -> Unit:
    return Thumbnailer(free_on_early_return=False)


PAIR = Pair(
    name="native_malloc_leak",
    kind="regression",
    expected=("regression",),
    reason="growth",
    summary="ctypes malloc'd 96 KiB scratch buffer not freed on an early return (1 per call)",
    before=before,
    after=after,
    iterations=50,
    warmup=10,
)
