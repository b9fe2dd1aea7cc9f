"""Builders shared by the test modules: files, sessions, reports and pytester runs.

``pythonpath = ["tests"]`` in pyproject puts this package on the path in every import mode;
test modules never import each other.
"""
