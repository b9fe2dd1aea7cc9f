"""Regression: a replicator buffers the whole object before fanning it out.

An object-store replicator copies each uploaded object to three replicas. ``before``
streams: every 64 KiB chunk read from the upstream connection is written to all replicas
and dropped. ``after`` was "simplified" to read the whole body first (``b"".join``) and
then write it to each replica, so the peak holds the entire 6 MiB object, twice while
the join runs.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from . import Pair, Unit

OBJECT_SIZE = 6 * 1024 * 1024
CHUNK = 64 * 1024
REPLICAS = 3


class Upstream:
    """An upload connection: each read returns a fresh ``bytes`` chunk, as a socket would."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def chunks(self) -> Iterator[bytes]:
        view = memoryview(self._data)
        for offset in range(0, len(self._data), CHUNK):
            yield bytes(view[offset : offset + CHUNK])


class Replica:
    def __init__(self) -> None:
        self.written = 0
        self.checksum = 0

    def write(self, chunk: bytes | memoryview) -> None:
        self.checksum = zlib.crc32(chunk, self.checksum)
        self.written += len(chunk)


class Replicator:
    def __init__(self, streaming: bool) -> None:
        self._streaming = streaming
        self._upstream = Upstream(bytes(range(256)) * (OBJECT_SIZE // 256))

    def __call__(self) -> int:
        replicas = [Replica() for _ in range(REPLICAS)]
        if self._streaming:
            for chunk in self._upstream.chunks():
                for replica in replicas:
                    replica.write(chunk)
        else:
            body = b"".join(self._upstream.chunks())
            view = memoryview(body)
            for replica in replicas:
                for offset in range(0, len(body), CHUNK):
                    replica.write(view[offset : offset + CHUNK])
        assert len({r.checksum for r in replicas}) == 1
        return replicas[0].written


def before() -> Unit:
    return Replicator(streaming=True)


def after() -> Unit:
    return Replicator(streaming=False)


PAIR = Pair(
    name="buffered_fanout",
    kind="regression",
    expected=("regression",),
    reason="peak",
    summary="replicator: streamed 64 KiB chunks -> whole 6 MiB body joined, then fanned out",
    before=before,
    after=after,
    iterations=50,
    warmup=5,
)
