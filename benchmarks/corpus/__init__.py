"""Scenario pairs for the detection benchmark.

Each module in this package defines one ``PAIR``: a ``before`` and an ``after``
implementation of the same unit of work. ``before`` and ``after`` are factories: they do
the setup a pytest fixture would do (build payloads, services, connections) and return
a zero-argument callable, one call of which is one unit of work.

``kind`` says whether the change is a regression the gate must catch or a benign change
it must let through; ``expected`` lists the verdicts that count as correct, and
``reason`` the gate's reason a caught regression should carry (peak or growth).
``clear`` marks pairs whose effect is far from every threshold: those should be decided
in the first three runs. The others sit close to a threshold on purpose.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Unit = Callable[[], object]
Factory = Callable[[], Unit]
Side = Literal["before", "after"]

# The order of the table: regressions first, then benign pairs.
NAMES: tuple[str, ...] = (
    "unbounded_cache",
    "buffered_fanout",
    "batch_size_drift",
    "listener_leak",
    "native_malloc_leak",
    "mmap_leak",
    "retry_amplification",
    "slow_leak_in_churn",
    "small_peak_increase",
    "identical",
    "refactor_same_memory",
    "payload_jitter",
    "cyclic_garbage",
    "bounded_cache_warmup",
    "lazy_table",
    "streaming_improvement",
)


@dataclass(frozen=True)
class Pair:
    name: str
    kind: Literal["regression", "benign"]
    expected: tuple[str, ...]  # verdicts that count as a correct answer
    reason: str | None  # the reason a caught regression should carry
    summary: str
    before: Factory
    after: Factory
    iterations: int = 50
    warmup: int = 10
    clear: bool = True

    def factory(self, side: Side) -> Factory:
        return self.before if side == "before" else self.after


def get_pair(name: str) -> Pair:
    """The pair defined in ``corpus.<name>``; only that module is imported."""
    if name not in NAMES:
        raise KeyError(f"unknown pair {name!r}; known pairs: {', '.join(NAMES)}")
    pair = importlib.import_module(f"{__name__}.{name}").PAIR
    if not isinstance(pair, Pair) or pair.name != name:
        raise TypeError(f"corpus.{name}.PAIR must be a Pair named {name!r}")
    return pair


def all_pairs() -> list[Pair]:
    return [get_pair(name) for name in NAMES]


def make_unit(name: str, side: Side) -> Unit:
    """Set up one side of a pair and return its unit of work."""
    if side not in ("before", "after"):
        raise ValueError(f"side must be 'before' or 'after', got {side!r}")
    return get_pair(name).factory(side)()
