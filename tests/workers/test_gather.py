"""Concurrent tasks share forward passes: a size cap and a short wait."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from engine import Source
from engine.ingest import Outcome
from tests.images import jpeg
from tests.workers.conftest import WORKER_ENV
from workers.gather import Gatherer
from workers.process import start_worker, stop_worker
from workers.queue import CeleryQueue
from workers.redis_server import EmbeddedRedis


def test_concurrent_requests_share_one_call_and_each_gets_its_own() -> None:
    calls: list[list[str]] = []

    def embed_many(ids: Sequence[str]) -> list[Outcome]:
        calls.append(list(ids))
        time.sleep(0.05)
        return [Outcome("", i, "added") for i in ids]

    gatherer = Gatherer(embed_many, max_items=6, max_wait_s=0.2)
    answers: dict[int, list[str | None]] = {}

    def task(n: int) -> None:
        answers[n] = [o.item_id for o in gatherer.embed([f"a{n}", f"b{n}"])]

    threads = [threading.Thread(target=task, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert answers == {n: [f"a{n}", f"b{n}"] for n in range(6)}
    assert max(len(c) for c in calls) == 6  # the size cap: three tasks' items in one call
    assert len(calls) <= 3


def test_a_failure_reaches_every_waiting_task() -> None:
    def broken(ids: Sequence[str]) -> list[Outcome]:
        raise OSError("disk gone")

    gatherer = Gatherer(broken, max_items=4, max_wait_s=0.01)
    with pytest.raises(OSError, match="disk gone"):
        gatherer.embed(["x"])


@pytest.mark.slow
def test_worker_gathers_one_image_uploads(
    queue: CeleryQueue, redis_server: EmbeddedRedis, data_dir: Path, tmp_path: Path
) -> None:
    # A wait longer than one registration takes, so the test does not hang on timing.
    env = {**WORKER_ENV, "LOOKALIKE_GATHER_WAIT_MS": "1500"}
    worker = start_worker(redis_server.url, data_dir, env=env, log=tmp_path / "worker.log")
    try:
        jobs = [queue.ingest([Source(uri=f"u{i}", data=jpeg(i, (64, 48)))])[0] for i in range(12)]
        for job in jobs:
            assert queue.wait(job.id, timeout=120).status == "done"
    finally:
        stop_worker(worker)
    log = (tmp_path / "worker.log").read_text()
    gathered = [int(m) for m in re.findall(r"gathered from (\d+) tasks", log)]
    assert sum(gathered) >= 12 and max(gathered) > 1, log[-2000:]
