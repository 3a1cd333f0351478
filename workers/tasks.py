"""Celery tasks. Thin: they carry ids, read the bytes from the blob store, and are idempotent."""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from embedder import EmbedderSettings, WeightsUnavailableError
from engine import Engine
from engine.ingest import embed_items
from index import BatchState, IndexSettings, JobStatus
from workers.celery_app import TASK_EMBED, app
from workers.jobs import now, refresh_job
from workers.settings import WorkerSettings

log = logging.getLogger(__name__)
MODEL_FIELDS = ("model", "weights", "pooling", "gem_p")


@cache
def _engine(model_key: tuple[tuple[str, Any], ...]) -> Engine:
    """One engine, and so one loaded model, per worker process and model; built lazily."""
    return Engine(EmbedderSettings(**dict(model_key)), IndexSettings())


@app.task(
    name=TASK_EMBED,
    bind=True,
    acks_late=True,
    autoretry_for=(OSError, RuntimeError),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=WorkerSettings().max_retries,
)
def embed_batch(
    self: Any, job_id: str, batch_no: int, item_ids: list[str], model: dict[str, Any]
) -> dict[str, int]:
    engine = _engine(tuple(sorted((k, v) for k, v in model.items() if k in MODEL_FIELDS)))
    store = engine.store
    key = f"{job_id}:{batch_no}"
    batches = {b.batch_no: b for b in store.job_batches(job_id)}
    batch = batches.get(batch_no)
    if batch is None or batch.state == BatchState.done.value:
        return {"skipped": len(item_ids)}  # already done by an earlier delivery
    job = store.get_job(job_id)
    if job.status == JobStatus.cancelled.value:
        store.save_batches(
            [batch.model_copy(update={"state": BatchState.cancelled.value, "updated_at": now()})]
        )
        return {"cancelled": len(item_ids)}
    try:
        embedder = engine.embedder
    except WeightsUnavailableError as exc:
        store.save_job(job.model_copy(update={"status": JobStatus.failed.value, "error": str(exc)}))
        return {"failed": len(item_ids)}
    outcomes = embed_items(
        engine,
        item_ids,
        embedder=embedder,
        sink=lambda ids, vectors: store.add_embeddings(embedder.model_id, ids, vectors),
    )
    # An item that already has a vector got it from an earlier delivery of this very batch
    # (duplicates were settled at registration), so it counts as done.
    counts = {
        "done": sum(1 for o in outcomes if o.status in ("added", "skipped")),
        "failed": sum(1 for o in outcomes if o.status == "failed"),
    }
    store.save_batches(
        [
            batch.model_copy(
                update={
                    "state": BatchState.done.value,
                    "done": counts["done"],
                    "failed": counts["failed"],
                    "updated_at": now(),
                }
            )
        ]
    )
    refresh_job(store, job_id)
    log.info("batch %s: %s", key, counts)
    return counts
