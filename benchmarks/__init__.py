"""Benchmarks: ``python -m benchmarks`` (``tox -e bench``) runs them all."""
