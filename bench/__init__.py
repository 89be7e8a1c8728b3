"""Benchmarks, run by ``make bench`` (``python -m bench``). Timings live here, never in tests."""
