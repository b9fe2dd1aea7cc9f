"""Regression: anonymous memory maps are kept alive by a registry.

A worker hands each job's decoded frame to a renderer through an anonymous shared
mapping. ``before`` closes the mapping when the job is done; ``after`` registers it in a
"for debugging" dict keyed by job id and never removes it, so 256 KiB of mapped (and
touched) memory stays per call.
"""

from __future__ import annotations

import mmap
import zlib

from . import Pair, Unit

FRAME = 256 * 1024
FRAMES_PER_CALL = 24
PIXELS = bytes(range(256)) * (FRAME // 256)


class FrameWorker:
    def __init__(self, keep_mappings: bool) -> None:
        self._keep = keep_mappings
        self._job = 0
        self.debug_frames: dict[int, mmap.mmap] = {}

    def _render(self, last: bool) -> int:
        self._job += 1
        shared = mmap.mmap(-1, FRAME)
        shared.write(PIXELS)
        shared.seek(0)
        digest = zlib.crc32(shared.read(FRAME // 4))
        if self._keep and last:
            self.debug_frames[self._job] = shared
        else:
            shared.close()
        return digest

    def __call__(self) -> int:
        return sum(self._render(last=i == FRAMES_PER_CALL - 1) for i in range(FRAMES_PER_CALL))


def before() -> Unit:
    return FrameWorker(keep_mappings=False)


def after() -> Unit:
    return FrameWorker(keep_mappings=True)


PAIR = Pair(
    name="mmap_leak",
    kind="regression",
    expected=("regression",),
    reason="growth",
    summary="anonymous 256 KiB mmap per call kept in a debug registry",
    before=before,
    after=after,
    iterations=50,
    warmup=10,
)
