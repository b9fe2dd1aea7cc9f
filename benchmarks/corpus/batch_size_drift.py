"""Regression: an exporter's batch size drifts from 200 to the whole queue.

A metrics exporter serialises queued events as JSON lines and ships them in batches.
``before`` sends batches of 200 events; in ``after`` the batch size is read from a
settings object whose default was changed to "everything queued" (here 3 000), so each
batch's serialised lines and payload are fifteen times larger.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

from . import Pair, Unit

QUEUED_EVENTS = 3_000


@dataclass(frozen=True)
class ExporterSettings:
    batch_size: int
    compress_level: int = 1


class Exporter:
    def __init__(self, settings: ExporterSettings) -> None:
        self._settings = settings
        self._queue = [
            {
                "ts": 1_700_000_000 + i,
                "service": f"checkout-{i % 7}",
                "metric": "latency_ms",
                "value": (i * 37) % 1000 / 10,
                "tags": {"region": "eu-west-1", "host": f"ip-10-0-{i % 250}-{i % 13}"},
            }
            for i in range(QUEUED_EVENTS)
        ]
        self.shipped_bytes = 0

    def _ship(self, payload: bytes) -> None:
        self.shipped_bytes += len(payload)

    def __call__(self) -> int:
        size = self._settings.batch_size
        batches = 0
        for start in range(0, len(self._queue), size):
            lines = [json.dumps(event) for event in self._queue[start : start + size]]
            payload = zlib.compress("\n".join(lines).encode(), self._settings.compress_level)
            self._ship(payload)
            batches += 1
        return batches


def before() -> Unit:
    return Exporter(ExporterSettings(batch_size=200))


def after() -> Unit:
    return Exporter(ExporterSettings(batch_size=QUEUED_EVENTS))


PAIR = Pair(
    name="batch_size_drift",
    kind="regression",
    expected=("regression",),
    reason="peak",
    summary="exporter: batch size 200 -> 3000 events per batch",
    before=before,
    after=after,
    iterations=40,
    warmup=5,
)
