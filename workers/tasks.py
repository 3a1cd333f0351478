"""Celery tasks. Thin: they carry ids, read the bytes from the blob store, and are idempotent."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from embedder import EmbedderSettings, WeightsUnavailableError
from engine import Engine
from engine.engine import MODEL_FIELDS
from engine.ingest import embed_items
from index import Batch, IndexSettings, JobStatus
from workers.celery_app import SETTINGS, TASK_EMBED, app, send_embed
from workers.gather import Gatherer
from workers.jobs import run_batch

log = logging.getLogger(__name__)
ModelKey = tuple[tuple[str, Any], ...]


# Bounded: the serving model and a reindex target. Every other model setting asked for
# (a reindex per gem_p, say) would otherwise keep its network in memory for good.
MODELS_KEPT = 2
# Read once per worker process, beside the worker's own settings (workers.celery_app).
INDEX_SETTINGS = IndexSettings()


@lru_cache(maxsize=MODELS_KEPT)
def _engine(model_key: ModelKey) -> Engine:
    """One engine, and so one loaded model, per worker process and model; built lazily."""
    return Engine(EmbedderSettings(**dict(model_key)), INDEX_SETTINGS)


@lru_cache(maxsize=MODELS_KEPT)
def _gatherer(model_key: ModelKey) -> Gatherer:
    """One gatherer per model: concurrent tasks of that model share forward passes."""
    engine = _engine(model_key)
    embedder = engine.embedder

    def sink(ids: Any, vectors: Any) -> None:
        engine.store.add_embeddings(embedder.model_id, ids, vectors)

    return Gatherer(
        lambda ids: embed_items(engine, ids, embedder=embedder, sink=sink),
        max_items=embedder.batch_size,
        max_wait_s=SETTINGS.gather_wait_ms / 1000,
    )


def _send(batch: Batch, model: dict[str, Any]) -> None:
    send_embed(app, batch, model)


@app.task(
    name=TASK_EMBED,
    bind=True,
    acks_late=True,
    autoretry_for=(OSError, RuntimeError),
    retry_backoff=True,
    retry_backoff_max=60,  # max_retries: the settings' value, set by make_celery
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
