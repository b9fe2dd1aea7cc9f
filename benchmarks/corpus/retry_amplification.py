"""Regression: failed attempts' payloads stay resident while the client retries.

A client downloads a 4 MiB document; the upstream is flaky and the first two attempts
return a body whose checksum does not match. ``before`` drops a bad body before retrying.
``after`` keeps every failed attempt (body included) in a list so that the final error
can "show what came back", which holds up to three bodies at once.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from . import Pair, Unit

DOCUMENT = 4 * 1024 * 1024
FAILURES_BEFORE_SUCCESS = 2


@dataclass
class Attempt:
    number: int
    status: int
    body: bytes | None


class FlakyUpstream:
    def __init__(self) -> None:
        self._document = bytes(range(256)) * (DOCUMENT // 256)
        self.checksum = zlib.crc32(self._document)
        self._calls = 0

    def get(self) -> bytes:
        self._calls += 1
        body = bytearray(self._document)  # a fresh body per response, as read off the wire
        if self._calls % (FAILURES_BEFORE_SUCCESS + 1) != 0:
            body[len(body) // 2] ^= 0xFF  # corrupted in transit
        return bytes(body)


class DocumentClient:
    def __init__(self, keep_failed_bodies: bool) -> None:
        self._upstream = FlakyUpstream()
        self._keep = keep_failed_bodies

    def __call__(self) -> int:
        attempts: list[Attempt] = []
        for number in range(1, 6):
            body = self._upstream.get()
            if zlib.crc32(body) == self._upstream.checksum:
                return len(body) + len(attempts)
            attempts.append(Attempt(number, 200, body if self._keep else None))
            del body
        raise RuntimeError(f"gave up after {len(attempts)} attempts")


def before() -> Unit:
    return DocumentClient(keep_failed_bodies=False)


def after() -> Unit:
    return DocumentClient(keep_failed_bodies=True)


PAIR = Pair(
    name="retry_amplification",
    kind="regression",
    expected=("regression",),
    reason="peak",
    summary="retrying client keeps failed 4 MiB bodies until it succeeds",
    before=before,
    after=after,
    iterations=50,
    warmup=5,
)
