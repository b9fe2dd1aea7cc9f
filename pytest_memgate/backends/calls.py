"""How measured and warm-up calls are made, the same way in every phase and backend."""

from __future__ import annotations

import gc

from . import Body


def settle() -> None:
    """Collect cyclic garbage so that the floor is what really stays alive."""
    gc.collect()


def warm_up(body: Body, calls: int) -> None:
    """Unmeasured calls, each followed by a collection as the measured ones are: cyclic
    garbage piling up across warm-up calls would otherwise set the tracked peak."""
    for _ in range(calls):
        body()
        settle()
