"""Exactly once, in effect: a worker killed mid-job, or Redis restarted mid-job, loses nothing
and duplicates nothing. Real processes, real signals."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from embedder import Embedder
from engine import Engine, EngineSettings, Source
from index import IndexSettings
from tests.images import jpeg
from tests.workers.conftest import WORKER_ENV
from workers.jobs import refresh_job
from workers.process import kill_worker, start_worker, stop_worker
from workers.queue import CeleryQueue as TaskQueue
from workers.redis_server import EmbeddedRedis

N = 1000


@pytest.fixture
def queue_engine(data_dir: Path, small_embedder: Embedder) -> Engine:
    """Small inputs (the model settings travel with each task): the tests are about faults,
    not the model, and 224-pixel inputs made most of their two minutes forward passes."""
    return Engine(
        small_embedder.settings.model_copy(update={"input_size": 64}),
        IndexSettings(data_dir=data_dir, use_gpu="never"),
        EngineSettings(decode_threads=2),
    )


def many() -> list[Source]:
    return [Source(uri=f"mem:{i}", data=jpeg(i, (64, 48))) for i in range(N)]


def wait_until_done_at_least(
    queue: TaskQueue, job_id: str, count: int, timeout: float = 300
) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = refresh_job(queue.engine.store, job_id).done
        if done >= count:
            return done
        time.sleep(0.1)
    raise AssertionError(f"job never reached {count} done")


def assert_each_embedded_once(engine: Engine) -> None:
    model = engine.embedder.model_id
    table = engine.store.embeddings(model, engine.embedder.dim)
    ids = table.search().select(["item_id"]).limit(None).to_arrow().column("item_id").to_pylist()
    counts = Counter(ids)
    assert len(counts) == N, f"{N - len(counts)} items lost"
    assert max(counts.values()) == 1, f"{sum(c > 1 for c in counts.values())} items duplicated"
    assert engine.store.status_counts() == {"embedded": N}


@pytest.mark.slow
def test_sigkill_worker_mid_job(
    queue: TaskQueue,
    queue_engine: Engine,
    redis_server: EmbeddedRedis,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    first = start_worker(redis_server.url, data_dir, env=WORKER_ENV, log=tmp_path / "w1.log")
    try:
        job, _ = queue.ingest(many())
        at_kill = wait_until_done_at_least(queue, job.id, 100)
        kill_worker(first)
    finally:
        kill_worker(first)
    assert at_kill < N
    second = start_worker(redis_server.url, data_dir, env=WORKER_ENV, log=tmp_path / "w2.log")
    try:
        final = queue.wait(job.id, timeout=400)
    finally:
        stop_worker(second)
    assert (final.status, final.done, final.failed) == ("done", N, 0)
    assert_each_embedded_once(queue_engine)
    print(
        f"worker SIGKILLed at {at_kill}/{N} done; after restart {final.done} done, "
        f"{N} embedded once, 0 lost, 0 duplicated"
    )


@pytest.mark.slow
def test_redis_killed_and_restarted_mid_job(
    queue: TaskQueue,
    queue_engine: Engine,
    redis_server: EmbeddedRedis,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    worker = start_worker(redis_server.url, data_dir, env=WORKER_ENV, log=tmp_path / "w.log")
    try:
        job, _ = queue.ingest(many())
        at_kill = wait_until_done_at_least(queue, job.id, 100)
        redis_server.kill()  # SIGKILL: whatever was not yet in the append-only file is lost
        time.sleep(2)
        redis_server.start()
        final = queue.wait(job.id, timeout=400)
    finally:
        stop_worker(worker)
    assert at_kill < N
    assert (final.status, final.done, final.failed) == ("done", N, 0)
    assert_each_embedded_once(queue_engine)
    print(f"redis SIGKILLed at {at_kill}/{N} done and restarted; {N} embedded once")
