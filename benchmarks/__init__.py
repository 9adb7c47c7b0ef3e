"""Benchmarks: ``cli/bench.py`` (every speed claim, one run) and its parts; the older single-piece scripts."""
