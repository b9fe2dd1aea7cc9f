"""Shared test setup: pytester is enabled in pyproject's addopts."""
