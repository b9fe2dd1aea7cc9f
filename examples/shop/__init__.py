"""A toy shop backend: the application code that the memgate example scenarios exercise."""
