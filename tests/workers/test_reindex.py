"""Blue/green reindex: the old model serves until the new one is complete, then they switch."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from embedder import EmbedderSettings
from engine import Engine, EngineError, Source
from index import ACTIVE_MODEL, PREVIOUS_MODEL, Batch, BatchState
from tests.images import jpeg
from workers.jobs import refresh_job
from workers.queue import JobQueue, LocalQueue
from workers.reindex import rollback, start_reindex
from workers.settings import WorkerSettings

OLD = "resnet18.none.gem.512"
NEW = "resnet18.none.avg.512"


def avg(engine: Engine) -> EmbedderSettings:
    return engine.embedder_settings.model_copy(update={"pooling": "avg"})


def test_reindex_switches_only_when_complete_and_rolls_back(engine: Engine) -> None:
    queue = LocalQueue(engine, WorkerSettings(job_batch_size=8))
    try:
        job, _ = queue.ingest([Source(uri=f"m{i}", data=jpeg(i)) for i in range(20)])
        queue.wait(job.id, timeout=60)
        assert engine.active_model_id == OLD
        reindex = start_reindex(queue, avg(engine))
        assert reindex.total == 20
        # while it runs the old model stays active
        assert engine.store.get_state(ACTIVE_MODEL) == OLD
        done = queue.wait(reindex.id, timeout=120)
        assert done.status == "done" and done.done == 20
        assert engine.store.get_state(ACTIVE_MODEL) == NEW
        assert engine.store.get_state(PREVIOUS_MODEL) == OLD
        assert engine.store.embeddings_count(NEW, 512) == 20
        with pytest.raises(EngineError, match="already served"):
            start_reindex(queue, avg(engine))
        result = rollback(queue)
        assert (result["active"], result["previous"]) == (OLD, NEW)
        assert result["backfill_job"] is None  # nothing arrived in between
    finally:
        queue.close()


class HeldQueue(JobQueue):
    """Keeps the batches it is given: the test finishes them itself."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, WorkerSettings(job_batch_size=8))
        self.sent: list[Batch] = []

    def send(self, batch: Batch, model: dict[str, Any]) -> None:
        self.sent.append(batch)


def finished_reindex(engine: Engine) -> tuple[HeldQueue, str]:
    """A reindex whose batches are all done, but that no finisher has seen yet."""
    local = LocalQueue(engine, WorkerSettings(job_batch_size=8))
    try:
        job, _ = local.ingest([Source(uri=f"c{i}", data=jpeg(i)) for i in range(12)])
        local.wait(job.id, timeout=60)
    finally:
        local.close()
    held = HeldQueue(engine)
    reindex = start_reindex(held, avg(engine))
    for batch in held.sent:
        vectors = np.random.default_rng(batch.batch_no).random((len(batch.item_ids), 512))
        engine.store.add_embeddings(NEW, batch.item_ids, vectors.astype(np.float32))
        engine.store.update_batch(batch.key, state=BatchState.done.value, done=len(batch.item_ids))
    return held, reindex.id


def test_a_finisher_after_the_switch_agrees_that_it_is_done(engine: Engine) -> None:
    """A finisher elsewhere (a worker process) switched and has not closed the job yet:
    a poller that finishes it now must say done, not 'the active model changed'."""
    held, job_id = finished_reindex(engine)
    engine.store.set_state(PREVIOUS_MODEL, OLD)
    engine.store.set_state(ACTIVE_MODEL, NEW)
    assert refresh_job(engine.store, job_id, held.send).status == "done"
    assert engine.store.get_job(job_id).status == "done"


def test_concurrent_finishers_switch_once_and_agree(engine: Engine) -> None:
    held, job_id = finished_reindex(engine)
    start = threading.Barrier(6)
    results: list[str] = []

    def finish() -> None:
        start.wait()
        results.append(refresh_job(engine.store, job_id, held.send).status)

    threads = [threading.Thread(target=finish) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == ["done"] * 6
    assert engine.store.get_job(job_id).status == "done"
    assert engine.store.get_state(ACTIVE_MODEL) == NEW
    assert engine.store.get_state(PREVIOUS_MODEL) == OLD
    assert len(held.sent) == 2  # no finisher added a catch-up round


def test_reindex_over_http_swaps_model_and_index_together(engine: Engine) -> None:
    settings = ApiSettings(refresh_every_s=0.1)
    with TestClient(create_app(engine, settings)) as client:
        files = [("files", (f"{i}.jpg", jpeg(i), "image/jpeg")) for i in range(12)]
        assert client.post("/v1/items", files=files).json()["added"] == 12
        started = client.post(
            "/v1/reindex", json={"model": "resnet18", "weights": "none", "pooling": "avg"}
        )
        assert started.status_code == 202
        job_id = started.json()["id"]
        seen_models = set()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            hits = client.post(
                "/v1/search/image",
                files=[("files", ("q.jpg", jpeg(3), "image/jpeg"))],
                data={"k": "12", "exclude_self": "false"},
            ).json()
            seen_models.add(hits["model_id"])
            assert len(hits["hits"]) == 12  # never a partial index
            if client.get("/ready").json()["model_id"] == NEW:
                break
            time.sleep(0.1)
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "done"
        assert client.get("/ready").json()["model_id"] == NEW
        after = client.post(
            "/v1/search/image",
            files=[("files", ("q.jpg", jpeg(3), "image/jpeg"))],
            data={"exclude_self": "false"},
        ).json()
        assert after["model_id"] == NEW and after["hits"][0]["score"] > 0.999
        # an upload after the switch is embedded with the new model only
        client.post("/v1/items", files=[("files", ("new.jpg", jpeg(50), "image/jpeg"))])
        back = client.post("/v1/reindex/rollback").json()
        assert back["active"] == OLD and back["backfill_job"] is not None
        deadline = time.monotonic() + 60
        while client.get("/ready").json()["model_id"] != OLD and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/ready").json()["model_id"] == OLD
        assert seen_models <= {OLD, NEW}
        bad = client.post("/v1/reindex", json={"model": "vgg99"})
        assert bad.status_code == 422 and "Unknown backbone" in bad.json()["detail"]
