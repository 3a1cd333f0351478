"""Celery tasks. Thin: they carry ids, read the bytes from the blob store, and are idempotent."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from embedder import EmbedderSettings, WeightsUnavailableError
from engine import Engine
from engine.engine import MODEL_FIELDS
from engine.ingest import embed_items
from index import IndexSettings, JobStatus
from workers.celery_app import QUEUE, TASK_EMBED, app
from workers.gather import Gatherer
from workers.jobs import run_batch
from workers.observe import task_headers
from workers.settings import WorkerSettings

log = logging.getLogger(__name__)
ModelKey = tuple[tuple[str, Any], ...]


# Bounded: the serving model and a reindex target. Every other model setting asked for
# (a reindex per gem_p, say) would otherwise keep its network in memory for good.
MODELS_KEPT = 2


@lru_cache(maxsize=MODELS_KEPT)
def _engine(model_key: ModelKey) -> Engine:
    """One engine, and so one loaded model, per worker process and model; built lazily."""
    return Engine(EmbedderSettings(**dict(model_key)), IndexSettings())


@lru_cache(maxsize=MODELS_KEPT)
def _gatherer(model_key: ModelKey) -> Gatherer:
    """One gatherer per model: concurrent tasks of that model share forward passes."""
    engine = _engine(model_key)
    embedder = engine.embedder

    def sink(ids: Any, vectors: Any) -> None:
        engine.store.add_embeddings(embedder.model_id, ids, vectors)

    settings = WorkerSettings()
    return Gatherer(
        lambda ids: embed_items(engine, ids, embedder=embedder, sink=sink),
        max_items=embedder.batch_size,
        max_wait_s=settings.gather_wait_ms / 1000,
    )


def _send(batch: Any, model: dict[str, Any]) -> None:
    args = [batch.job_id, batch.batch_no, batch.item_ids, model]
    app.send_task(TASK_EMBED, args=args, queue=QUEUE, headers=task_headers())


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
    key: ModelKey = tuple(sorted((k, v) for k, v in model.items() if k in MODEL_FIELDS))
    engine = _engine(key)
    try:
        gatherer = _gatherer(key)
    except WeightsUnavailableError as exc:
        engine.store.update_job(
            job_id,
            when=[JobStatus.queued.value, JobStatus.running.value],
            status=JobStatus.failed.value,
            error=str(exc),
        )
        return {"failed": len(item_ids)}
    counts = run_batch(engine.store, job_id, batch_no, item_ids, gatherer.embed, send=_send)
    log.info("batch %s:%s: %s", job_id, batch_no, counts)
    return counts
