"""Benign: webhook payload sizes vary by a few percent from call to call.

A webhook dispatcher signs and base64-encodes a 3 MiB batch per call; the batch size
varies by up to ±3% (seeded, with a different seed on each side, so the two sides see
different but equally distributed sizes). The code is the same.
"""

from __future__ import annotations

import base64
import hashlib
import random

from . import Pair, Unit

BATCH = 3 * 1024 * 1024
JITTER = 0.03


class Dispatcher:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._source = bytes(range(256)) * ((BATCH * 2) // 256)

    def __call__(self) -> int:
        size = int(BATCH * (1 + self._rng.uniform(-JITTER, JITTER)))
        batch = self._source[:size]
        signature = hashlib.blake2b(batch, digest_size=32).hexdigest()
        body = base64.b64encode(batch)
        return len(body) + len(signature)


def before() -> Unit:
    return Dispatcher(seed=1)


def after() -> Unit:
    return Dispatcher(seed=2)


PAIR = Pair(
    name="payload_jitter",
    kind="benign",
    expected=("pass",),
    reason=None,
    summary="webhook batches of 3 MiB ±3%, different seeds on each side",
    before=before,
    after=after,
    iterations=50,
    warmup=10,
)
