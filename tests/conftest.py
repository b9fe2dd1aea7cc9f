"""Shared test setup: pytester is enabled in pyproject's addopts."""

# The statistics import scipy on first use. Import it here, before any in-process pytester
# run: pytester takes scipy's modules out of sys.modules again after a run that imported
# them, and numpy's extension modules cannot be loaded a second time in one process.
import scipy.special
import scipy.stats  # noqa: F401
