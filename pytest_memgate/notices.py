"""The warning category of the gate: apart from ``errors.py`` because it is pytest's, and
the ``memgate`` command never imports pytest."""

from __future__ import annotations

import pytest


class MemgateWarning(pytest.PytestWarning):
    """Something the gate did not check, counted in pytest's warnings summary."""
