"""The producer side: register images, write the job and batch rows, send the tasks."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from embedder import EmbedderSettings
from engine import Engine, Source
from engine.ingest import Outcome, register
from index import Batch, Job, JobStatus
from workers.celery_app import QUEUE, TASK_EMBED, make_celery
from workers.jobs import FINAL, cancel_job, create_job, reconcile, refresh_job, resume_job
from workers.settings import WorkerSettings

MODEL_FIELDS = ("model", "weights", "pooling", "gem_p")


def model_of(settings: EmbedderSettings) -> dict[str, Any]:
    """The part of the embedder settings that names the model a worker must load."""
    return settings.model_dump(include=set(MODEL_FIELDS))


class TaskQueue:
    def __init__(self, engine: Engine, settings: WorkerSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.celery = make_celery(settings)

    def send(self, batch: Batch, model: dict[str, Any]) -> None:
        self.celery.send_task(
            TASK_EMBED, args=[batch.job_id, batch.batch_no, batch.item_ids, model], queue=QUEUE
        )

    def submit(
        self, kind: str, item_ids: Sequence[str], model: dict[str, Any], **counts: Any
    ) -> Job:
        return create_job(
            self.engine.store,
            kind,
            item_ids,
            model,
            self.settings.job_batch_size,
            self.send,
            **counts,
        )

    def ingest(self, sources: Sequence[Source], kind: str = "ingest") -> tuple[Job, list[Outcome]]:
        """Register the sources here; the workers embed what is new."""
        catalog = self.engine.catalog
        with ThreadPoolExecutor(self.engine.settings.decode_threads) as pool:
            outcomes = register(self.engine, sources, catalog.model_id, catalog.dim, pool)
        queued = [o.item_id for o in outcomes if o.status == "queued" and o.item_id]
        job = self.submit(
            kind,
            queued,
            model_of(self.engine.embedder_settings),
            skipped=sum(o.status == "skipped" for o in outcomes),
            failed=sum(o.status == "failed" for o in outcomes),
        )
        return job, outcomes

    def wait(
        self,
        job_id: str,
        *,
        timeout: float = 3600.0,
        poll: float = 0.2,
        on_update: Callable[[Job], None] | None = None,
    ) -> Job:
        """Poll until the job ends, resending lost batches on the way."""
        deadline = time.monotonic() + timeout
        last_reconcile = time.monotonic()
        while True:
            job = refresh_job(self.engine.store, job_id)
            if on_update:
                on_update(job)
            if job.status in FINAL or time.monotonic() > deadline:
                return job
            if time.monotonic() - last_reconcile > self.settings.reconcile_every_s:
                self.reconcile()
                last_reconcile = time.monotonic()
            time.sleep(poll)

    def reconcile(self) -> int:
        return reconcile(self.engine.store, self.settings.stale_after_s, self.send)

    def cancel(self, job_id: str) -> Job:
        return cancel_job(self.engine.store, job_id)

    def resume(self, job_id: str) -> Job:
        return resume_job(self.engine.store, job_id, self.send)

    def workers_alive(self, timeout: float = 1.0) -> int:
        try:
            return len(self.celery.control.ping(timeout=timeout) or [])
        except Exception:
            return 0

    def redis_ok(self) -> bool:
        try:
            with self.celery.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1)
            return True
        except Exception:
            return False


def is_running(job: Job) -> bool:
    return job.status == JobStatus.running.value
