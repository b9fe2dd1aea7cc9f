"""pytest-memgate: memory regressions fail the build, like failing tests."""

from __future__ import annotations

from .marker import ScenarioSpec
from .model import AllocSite, RunRecord, RunStatus

__version__ = "0.1.0"

__all__ = ["AllocSite", "RunRecord", "RunStatus", "ScenarioSpec", "__version__"]
