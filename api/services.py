"""What the routes share: the engine, the query batcher, the write lock, background jobs."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from api.batching import QueryBatcher
from api.settings import ApiSettings
from engine import Engine, Source, ingest
from index import Job, JobStatus

log = logging.getLogger(__name__)


class Services:
    def __init__(self, engine: Engine, settings: ApiSettings) -> None:
        self.engine = engine
        self.settings = settings
        # LanceDB commits from several threads at once would conflict: writes take turns.
        self.write_lock = threading.Lock()
        self.jobs = ThreadPoolExecutor(1, thread_name_prefix="lookalike-job")
        embedder = engine.embedder
        self.batcher = QueryBatcher(
            embedder.embed_tensors,
            max_batch=settings.batch_max,
            max_wait_s=settings.batch_wait_ms / 1000,
            max_queue=settings.queue_max,
        )
        self.thumbs_dir: Path = engine.index_settings.data_dir / "thumbs"

    def ingest_now(self, sources: list[Source]):  # type: ignore[no-untyped-def]
        with self.write_lock:
            return ingest(self.engine, sources)

    def ingest_later(self, sources: list[Source]) -> Job:
        """Write the job row first, then run it in the background (the workers' job later)."""
        job = Job.new(uuid.uuid4().hex, "upload", total=len(sources))
        self.engine.store.save_job(job)
        self.jobs.submit(self._run_job, job, sources)
        return job

    def _run_job(self, job: Job, sources: list[Source]) -> None:
        store = self.engine.store
        job = job.model_copy(update={"status": JobStatus.running.value})
        store.save_job(job)
        processed = 0
        last_write = 0.0

        def progress(n: int) -> None:
            nonlocal processed, last_write
            processed += n
            if time.monotonic() - last_write > 0.5:  # a row write per half second at most
                last_write = time.monotonic()
                store.save_job(
                    job.model_copy(update={"done": processed, "updated_at": datetime.now(UTC)})
                )

        try:
            with self.write_lock:
                report = ingest(self.engine, sources, progress)
            job = job.model_copy(
                update={
                    "status": JobStatus.done.value,
                    "done": report.added,
                    "failed": len(report.failed),
                    "skipped": report.skipped,
                }
            )
        except Exception as exc:
            log.exception("job %s failed", job.id)
            job = job.model_copy(update={"status": JobStatus.failed.value, "error": str(exc)})
        store.save_job(job.model_copy(update={"updated_at": datetime.now(UTC)}))

    def close(self) -> None:
        self.jobs.shutdown(wait=True)
        with self.write_lock:
            if "catalog" in self.engine.__dict__:
                self.engine.catalog.save()


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]
