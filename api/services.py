"""What the routes share: the engine, the job queue, the query batcher, background loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from api.batching import QueryBatcher
from api.settings import ApiSettings
from engine import Engine, Outcome, Source
from index import Job
from workers.queue import JobQueue, LocalQueue
from workers.settings import WorkerSettings

log = logging.getLogger(__name__)


class Services:
    def __init__(
        self, engine: Engine, settings: ApiSettings, queue: JobQueue | None = None
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.queue = queue or LocalQueue(engine, WorkerSettings())
        # Registration writes items and jobs; one at a time keeps LanceDB commits simple.
        self.write_lock = threading.Lock()
        embedder = engine.embedder
        self.batcher = QueryBatcher(
            embedder.embed_tensors,
            max_batch=settings.batch_max,
            max_wait_s=settings.batch_wait_ms / 1000,
            max_queue=settings.queue_max,
        )
        self.thumbs_dir: Path = engine.index_settings.data_dir / "thumbs"
        self._loops: list[asyncio.Task[None]] = []

    # ---- ingest -------------------------------------------------------------------------
    def submit(self, sources: list[Source]) -> tuple[Job, list[Outcome]]:
        with self.write_lock:
            return self.queue.ingest(sources, kind="upload")

    def ingest_now(self, sources: list[Source]) -> list[Outcome]:
        """Submit, wait for the batches, and answer each source's final outcome."""
        job, outcomes = self.submit(sources)
        self.queue.wait(job.id, timeout=self.settings.upload_wait_s, poll=0.05)
        self.engine.catalog.refresh()  # read-your-writes: searchable when we answer
        items = self.engine.store.get_items([o.item_id for o in outcomes if o.item_id])
        final: list[Outcome] = []
        for o in outcomes:
            item = items.get(o.item_id or "")
            if o.status == "queued" and item is not None:
                status = {"embedded": "added", "failed": "failed"}.get(item.status, "queued")
                final.append(Outcome(o.source, o.item_id, status, item.error))
            else:
                final.append(o)
        return final

    # ---- background loops ---------------------------------------------------------------
    def start(self) -> None:
        self.batcher.start()
        loop = asyncio.get_running_loop()
        self._loops = [
            loop.create_task(
                self._every(self.settings.refresh_every_s, self.engine.catalog.refresh)
            ),
            loop.create_task(
                self._every(self.queue.settings.reconcile_every_s, self.queue.reconcile)
            ),
        ]

    async def _every(self, seconds: float, fn: object) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await run_in_threadpool(fn)  # type: ignore[arg-type]
            except Exception:
                log.exception("background %s failed; trying again", getattr(fn, "__name__", fn))

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.batcher.stop()
        await run_in_threadpool(self.close)

    def close(self) -> None:
        self.queue.close()
        with self.write_lock:
            if "catalog" in self.engine.__dict__:
                self.engine.catalog.refresh()
                self.engine.catalog.save()


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]
