"""Timing one call, for the benchmarks that need no model (this module imports no torch)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


def timed_ms(work: Callable[[], object]) -> float:
    """Milliseconds one call of `work` takes."""
    began = time.perf_counter()
    work()
    return (time.perf_counter() - began) * 1000


def percentiles(samples: Sequence[float], scale: float = 1.0) -> dict[str, float]:
    """p50, p95 and p99 of `samples` (inclusive quantiles), times `scale` (1000: seconds
    to milliseconds); one sample is every percentile."""
    values = list(samples)
    qs = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return {"p50": qs[49] * scale, "p95": qs[94] * scale, "p99": qs[98] * scale}
