"""The bounded load test (also `lookalike bench --load`): mixed traffic at a steady rate on a
real server, zero errors besides the greedy key's deliberate 429s, flat memory, and a
consistent catalog at the end."""

from __future__ import annotations

import os

import pytest

from bench import load
from bench.common import print_table

pytestmark = pytest.mark.slow

# Five minutes, as promised; LOOKALIKE_LOAD_SECONDS shortens it for a quick local run.
DURATION_S = float(os.environ.get("LOOKALIKE_LOAD_SECONDS", "300"))


@pytest.mark.timeout(DURATION_S + 240)
def test_five_minutes_of_mixed_load() -> None:
    report = load.run(duration_s=DURATION_S, rate=4.0)
    print_table(report.rows(), f"load test: {DURATION_S:g} s at 4 requests/s")
    assert sum(report.requests.values()) >= DURATION_S * 4 * 0.95
    assert report.total_errors == 0, report.error_samples
    assert report.deliberate_429 > 0  # the limiter was exercised, and its 429s are not errors
    assert report.acked_uploads > 0 and report.acked_deletes > 0
    assert report.missing_after == [] and report.resurrected_after == []
    assert report.memory_growth() <= 0.05, report.rss_mib
