"""Flat combining: concurrent calls share batched calls, and each gets its own answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from index.combine import Combiner


def test_concurrent_calls_share_batches_and_get_their_own_results() -> None:
    batches: list[int] = []

    def square(requests: Sequence[int]) -> list[int]:
        batches.append(len(requests))
        time.sleep(0.02)  # long enough for the other callers to queue behind this batch
        return [r * r for r in requests]

    combined = Combiner(square)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(combined, range(64)))
    assert results == [r * r for r in range(64)]
    assert sum(batches) == 64 and len(batches) < 64 and max(batches) > 1


def test_a_lone_call_runs_at_once_alone() -> None:
    batches: list[Sequence[str]] = []
    combined = Combiner(lambda reqs: batches.append(list(reqs)) or [r.upper() for r in reqs])
    assert combined("a") == "A" and combined("b") == "B"
    assert batches == [["a"], ["b"]]


def test_max_batch_caps_a_batch() -> None:
    gate = threading.Event()
    batches: list[int] = []

    def run(requests: Sequence[int]) -> list[int]:
        gate.wait(5)
        batches.append(len(requests))
        return list(requests)

    combined = Combiner(run, max_batch=4)
    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(combined, i) for i in range(12)]
        time.sleep(0.1)  # all queued behind the first, blocked, batch
        gate.set()
        assert [f.result() for f in futures] == list(range(12))
    assert max(batches) <= 4 and sum(batches) == 12


def test_a_failing_batch_fails_each_caller_in_it_and_the_next_batch_runs() -> None:
    def run(requests: Sequence[int]) -> list[int]:
        if any(r < 0 for r in requests):
            raise ValueError("negative")
        return list(requests)

    combined = Combiner(run)
    with pytest.raises(ValueError, match="negative"):
        combined(-1)
    assert combined(3) == 3
    with pytest.raises(RuntimeError, match="2 results for 1 requests"):
        Combiner(lambda reqs: [1, 2])(0)
