"""Renderers: they read results and return text or documents; they never decide."""
