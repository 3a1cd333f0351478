"""The producer side: register images, write the job and batch rows, send the batches.

`CeleryQueue` sends each batch to the workers through Redis. `LocalQueue` runs the very same
batch function in a thread of this process, for the API without a broker and for tests.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from engine import Engine, Source
from engine.engine import model_of
from engine.ingest import Outcome, embed_items, register
from index import Batch, Job, JobStatus
from workers.errors import RegistrationBusyError
from workers.jobs import (
    FINAL,
    cancel_job,
    create_job,
    reconcile,
    refresh_job,
    resume_job,
    run_batch,
)
from workers.leader import Leadership, redis_client
from workers.observe import read_heartbeats
from workers.settings import WorkerSettings

log = logging.getLogger(__name__)
WORKER_SEEN_S = 10.0


class JobQueue:
    def __init__(self, engine: Engine, settings: WorkerSettings) -> None:
        self.engine = engine
        self.settings = settings
        # URL registrations (fetch, hash, write) run here, a few at a time; past
        # `registrations_max` waiting ones a new request is refused instead of a thread
        # being started for each (30 requests to a slow origin made 90 threads).
        self._registrar = ThreadPoolExecutor(
            settings.registration_threads, thread_name_prefix="lookalike-register"
        )
        self._registrations = threading.BoundedSemaphore(settings.registrations_max)

    def send(self, batch: Batch, model: dict[str, Any]) -> None:
        raise NotImplementedError

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

    def ingest(
        self, sources: Sequence[Source], kind: str = "ingest", job_id: str | None = None
    ) -> tuple[Job, list[Outcome]]:
        """Register the sources here; the batches embed what is new."""
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
            job_id=job_id,
        )
        return job, outcomes

    def ingest_later(self, sources: Sequence[Source], kind: str) -> Job:
        """Announce the job now; fetch and register in the background (URLs take a while).
        Raises RegistrationBusyError when every registration slot is taken."""
        if not self._registrations.acquire(blocking=False):
            raise RegistrationBusyError(
                f"{self.settings.registrations_max} URL jobs are still registering; "
                "retry in a moment."
            )
        job = Job.new(uuid.uuid4().hex, kind, total=len(sources))
        try:
            self.engine.store.create_job(job)
        except BaseException:
            self._registrations.release()
            raise

        def run() -> None:
            try:
                self.ingest(sources, kind, job_id=job.id)
            except Exception as exc:
                log.exception("registering job %s failed", job.id)
                self.engine.store.update_job(
                    job.id, when=[JobStatus.queued.value], status="failed", error=str(exc)
                )
            finally:
                self._registrations.release()

        context = contextvars.copy_context()  # the request id goes with the registration
        self._registrar.submit(context.run, run)
        return job

    def job(self, job_id: str) -> Job:
        return refresh_job(self.engine.store, job_id, self.send)

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
            job = self.job(job_id)
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

    def health(self) -> tuple[bool, str]:
        return True, "in-process"

    redis: Any = None  # a redis-py client where the queue has Redis (rate limits share it)

    @property
    def leading(self) -> bool:
        """Whether this process does the catalog's upkeep (snapshots, rebuilds, compaction,
        scalar indexes): a process without Redis is the only one, so always."""
        return True

    def renew_leadership(self) -> bool:
        """Take or extend the leadership (more often than its TTL); whether this leads."""
        return True

    def resign(self) -> None:
        """Hand the leadership over at a clean shutdown."""

    def heartbeats(self) -> dict[str, dict[str, Any]]:
        """Live workers and their last beat; none when batches run in this process."""
        return {}

    def close(self) -> None:
        self._registrar.shutdown(wait=False)  # registrations in flight finish their jobs


class LocalQueue(JobQueue):
    """Batches run one at a time in a thread here, with the engine's own model and index."""

    def __init__(self, engine: Engine, settings: WorkerSettings) -> None:
        super().__init__(engine, settings)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="lookalike-batch")
        self._others: dict[str, Engine] = {}

    def send(self, batch: Batch, model: dict[str, Any]) -> None:
        self._pool.submit(self._run, batch, model)

    def _run(self, batch: Batch, model: dict[str, Any]) -> None:
        engine = self.engine
        if model == model_of(engine.embedder_settings):
            # The serving model: vectors go to LanceDB and straight into the live index.
            embedder = engine.embedder
            sink: Callable[[Sequence[str], Any], None] = engine.catalog.add
        else:  # another model (a reindex): its own table, no live index
            key = json.dumps(model, sort_keys=True)
            if key not in self._others:
                settings = engine.embedder_settings.model_copy(update=model)
                if len(self._others) >= 1:  # one other model at a time: a reindex target
                    self._others.clear()
                self._others[key] = Engine(settings, engine.index_settings, engine.settings)
            embedder = self._others[key].embedder

            def to_table(ids: Sequence[str], vectors: Any) -> None:
                engine.store.add_embeddings(embedder.model_id, ids, vectors)

            sink = to_table

        try:
            run_batch(
                engine.store,
                batch.job_id,
                batch.batch_no,
                batch.item_ids,
                lambda ids: embed_items(engine, ids, embedder=embedder, sink=sink),
                self.send,
            )
        except Exception:  # the batch stays queued; `lookalike jobs ID --resume` sends it again
            log.exception("batch %s:%s failed", batch.job_id, batch.batch_no)

    def reconcile(self) -> int:
        return 0  # nothing is lost in transit inside one process

    def close(self) -> None:
        super().close()
        self._pool.shutdown(wait=True)


class CeleryQueue(JobQueue):
    def __init__(self, engine: Engine, settings: WorkerSettings) -> None:
        from workers.celery_app import make_celery

        super().__init__(engine, settings)
        self.celery = make_celery(settings)
        self._seen, self._seen_at = 0, 0.0
        # API replicas share Redis: one of them leads the upkeep (workers/leader.py)
        self.redis = redis_client(settings.redis_url or "")
        self.leadership = Leadership(self.redis, settings.leader_ttl_s)

    @property
    def leading(self) -> bool:
        return self.leadership.leading

    def renew_leadership(self) -> bool:
        return self.leadership.renew()

    def resign(self) -> None:
        self.leadership.resign()

    def send(self, batch: Batch, model: dict[str, Any]) -> None:
        from workers.celery_app import send_embed

        send_embed(self.celery, batch, model)

    def heartbeats(self) -> dict[str, dict[str, Any]]:
        try:
            return read_heartbeats(self.celery)
        except Exception:  # Redis down: no worker is known to be alive
            return {}

    def workers_alive(self, timeout: float = 1.0, limit: int | None = None) -> int:
        """Workers that answer a ping within `timeout`; with `limit`, the count stops (and
        the wait ends) once that many have answered."""
        try:
            return len(self.celery.control.ping(timeout=timeout, limit=limit) or [])
        except Exception:
            return 0

    def _workers_seen(self) -> int:
        """Workers that answered a ping lately: a worker that answered within the last
        WORKER_SEEN_S seconds counts, so readiness does not flap on one slow reply."""
        now = time.monotonic()
        if now - self._seen_at > WORKER_SEEN_S or self._seen == 0:
            # Readiness needs one worker: stop at the first answer instead of waiting out
            # the timeout for workers that may not exist (every /ready took a second).
            self._seen = self.workers_alive(limit=1)
            self._seen_at = now
        return self._seen

    def health(self) -> tuple[bool, str]:
        from workers.celery_app import broker_unreachable

        why = broker_unreachable(self.celery)
        if why is not None:
            return False, f"Redis is unreachable ({why})"
        if self._workers_seen() == 0:
            return False, "no worker answers; start one with lookalike worker"
        return True, "workers answer"


def make_queue(engine: Engine, settings: WorkerSettings) -> JobQueue:
    return CeleryQueue(engine, settings) if settings.redis_url else LocalQueue(engine, settings)
