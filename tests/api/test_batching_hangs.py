"""No query waits forever on the batcher: not after it stopped, not when a pass it was
running is cancelled, not across a model switch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import numpy as np
import torch

from api.batching import QueryBatcher


def _slow(tensors: Sequence[torch.Tensor]) -> np.ndarray:
    time.sleep(0.3)
    return np.zeros((len(tensors), 2), np.float32)


def _outcome(coro: object, within: float = 5.0) -> object:
    """What awaiting `coro` gives within `within` seconds ("hung" if nothing does)."""

    async def run() -> object:
        try:
            return await asyncio.wait_for(coro, within)  # type: ignore[arg-type]
        except TimeoutError:
            return "hung"
        except Exception as exc:
            return exc

    return asyncio.run(run())


def test_a_query_queued_after_stop_is_answered() -> None:
    async def run() -> object:
        batcher = QueryBatcher(_slow, max_batch=4, max_wait_s=0, max_queue=8)
        batcher.start()
        await batcher.stop()
        try:
            return await asyncio.wait_for(batcher.embed(torch.zeros(2)), 3)
        except TimeoutError:
            return "hung"
        except Exception as exc:
            return exc

    outcome = asyncio.run(run())
    assert outcome != "hung"
    assert getattr(outcome, "status", None) == 503, outcome


def test_a_pass_cancelled_midway_fails_its_waiters() -> None:
    async def run() -> list[object]:
        batcher = QueryBatcher(_slow, max_batch=2, max_wait_s=0, max_queue=8)
        batcher.start()
        waiters = [asyncio.ensure_future(batcher.embed(torch.zeros(2))) for _ in range(5)]
        await asyncio.sleep(0.1)  # the first pass is running, others wait in the queue
        await batcher.stop()
        _, pending = await asyncio.wait(waiters, timeout=3)
        for w in pending:
            w.cancel()
        return ["hung" if w in pending else (w.exception() or w.result()) for w in waiters]

    outcomes = asyncio.run(run())
    assert "hung" not in outcomes, outcomes
    assert all(getattr(o, "status", None) == 503 for o in outcomes), outcomes


def test_drain_finishes_what_is_queued_then_refuses() -> None:
    async def run() -> tuple[list[object], object, float]:
        batcher = QueryBatcher(_slow, max_batch=2, max_wait_s=0, max_queue=8)
        batcher.start()
        waiters = [asyncio.ensure_future(batcher.embed(torch.zeros(2))) for _ in range(4)]
        await asyncio.sleep(0.05)
        start = time.monotonic()
        await batcher.drain(timeout_s=5)
        took = time.monotonic() - start
        results = [w.result() for w in waiters]
        try:
            late: object = await asyncio.wait_for(batcher.embed(torch.zeros(2)), 2)
        except Exception as exc:
            late = exc
        return results, late, took

    results, late, took = asyncio.run(run())
    assert all(isinstance(r, np.ndarray) for r in results)  # the queued ones were served
    assert getattr(late, "status", None) == 503
    assert took < 1.5  # waited for the work, not a fixed sleep
