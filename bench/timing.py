"""Timing one call, for the benchmarks that need no model (this module imports no torch)."""

from __future__ import annotations

import time
from collections.abc import Callable


def timed_ms(work: Callable[[], object]) -> float:
    """Milliseconds one call of `work` takes."""
    began = time.perf_counter()
    work()
    return (time.perf_counter() - began) * 1000
