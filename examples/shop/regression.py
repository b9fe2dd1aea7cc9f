"""The switch that plants a memory regression, so the gate can be seen failing.

``MEMGATE_EXAMPLE_REGRESSION=leak`` makes the quote cache unbounded (growth per call);
``MEMGATE_EXAMPLE_REGRESSION=peak`` makes the CSV export buffer the whole file before
writing it (heap peak). Unset or empty means the correct code runs.
"""

from __future__ import annotations

import os

ENV_VAR = "MEMGATE_EXAMPLE_REGRESSION"
KINDS = ("leak", "peak")


def planted() -> str:
    """The planted regression named in the environment, or ``""`` for none.

    A typo must not silently run the correct code and make the demonstration look broken,
    so an unknown value is an error.
    """
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value and value not in KINDS:
        raise ValueError(f"{ENV_VAR}={value!r} is not one of {', '.join(KINDS)} (or unset)")
    return value
