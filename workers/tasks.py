"""Celery tasks. Thin: they carry ids, read the bytes from the blob store, and are idempotent."""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from embedder import EmbedderSettings, WeightsUnavailableError
from engine import Engine
from index import IndexSettings, JobStatus
from workers.celery_app import QUEUE, TASK_EMBED, app
from workers.jobs import run_batch
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
    try:
        embedder = engine.embedder
    except WeightsUnavailableError as exc:
        job = engine.store.get_job(job_id)
        engine.store.save_job(
            job.model_copy(update={"status": JobStatus.failed.value, "error": str(exc)})
        )
        return {"failed": len(item_ids)}

    def send(batch: Any, batch_model: dict[str, Any]) -> None:
        args = [batch.job_id, batch.batch_no, batch.item_ids, batch_model]
        app.send_task(TASK_EMBED, args=args, queue=QUEUE)

    counts = run_batch(
        engine,
        job_id,
        batch_no,
        item_ids,
        embedder,
        sink=lambda ids, vectors: engine.store.add_embeddings(embedder.model_id, ids, vectors),
        send=send,
    )
    log.info("batch %s:%s: %s", job_id, batch_no, counts)
    return counts
