"""The bounded load test (also `lookalike bench --load`): mixed traffic at a steady rate on a
real server, zero errors besides the greedy key's deliberate 429s, flat memory, and a
consistent catalog at the end."""

from __future__ import annotations

import os

import pytest

from bench import load
from bench.common import print_table

pytestmark = pytest.mark.slow

# One minute in the suite (CI's time budget); `lookalike bench --load` runs the full five
# minutes and reports its memory growth against the 5% target. LOOKALIKE_LOAD_SECONDS=300
# runs the five minutes here too.
DURATION_S = float(os.environ.get("LOOKALIKE_LOAD_SECONDS", "60"))


@pytest.mark.timeout(DURATION_S + 240)
def test_mixed_load_loses_nothing_and_answers_every_request() -> None:
    report = load.run(duration_s=DURATION_S, rate=4.0)
    print_table(report.rows(), f"load test: {DURATION_S:g} s at 4 requests/s")
    assert sum(report.requests.values()) >= DURATION_S * 4 * 0.95
    assert report.total_errors == 0, report.error_samples
    assert report.deliberate_429 > 0  # the limiter was exercised, and its 429s are not errors
    assert report.acked_uploads > 0 and report.acked_deletes > 0
    assert report.missing_after == [] and report.resurrected_after == []
    # A regression guard, not the 5% target: on this 2-core machine the API still gains
    # a few percent per minute under steady writes (see the closing note).
    assert report.memory_growth() <= 0.10, report.rss_mib
