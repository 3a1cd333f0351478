"""What the routes share: the serving model and index, the job queue, background loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from api.batching import QueryBatcher
from api.cursor import CursorCodec, load_key
from api.errors import Overloaded
from api.keys import KeyRing
from api.settings import ApiSettings
from engine import Engine, Outcome, Source
from engine.engine import settings_for
from engine.metrics import compact
from index import ACTIVE_MODEL, Catalog, Job
from workers import reindex
from workers.jobs import FINAL
from workers.queue import JobQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Serving:
    """A model and its index, served together. A request takes one pair and keeps it, so a
    blue/green switch never pairs one model's query vector with another model's index."""

    engine: Engine
    batcher: QueryBatcher

    @property
    def catalog(self) -> Catalog:
        return self.engine.catalog


class Services:
    def __init__(
        self,
        engine: Engine,
        settings: ApiSettings,
        queue: JobQueue,
        keys: KeyRing,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.queue = queue
        # Registration writes items and jobs; one at a time keeps LanceDB commits simple.
        self.write_lock = threading.Lock()
        self.serving = self._serving(engine)
        self.thumbs_dir: Path = engine.index_settings.data_dir / "thumbs"
        self.cursors = CursorCodec(load_key(engine.location.objects))
        self._loops: list[asyncio.Task[None]] = []
        self._saved_version: dict[str, int] = {}
        self._waiting = 0  # uploads waiting for their results (event loop only: no lock)

    def remove_item(self, item_id: str) -> None:
        """An item gone everywhere: its row and vectors, the index, its image, thumbnails
        (ItemNotFoundError when there is none)."""
        engine = self.engine
        engine.store.get_item(item_id)
        # a worker embedding the item meanwhile removes the vector it wrote (engine/ingest.py)
        engine.catalog.delete([item_id])
        engine.blobs.delete(item_id)
        for thumb in self.thumbs_dir.glob(f"*/{item_id[:2]}/{item_id}.jpg"):
            thumb.unlink(missing_ok=True)

    def _serving(self, engine: Engine) -> Serving:
        # Measured with resnet50 on two cores: 14.4 images/s at batch 8, 9.6 at batch 32 (the
        # activations of a large batch leave the caches); a GPU gains up to far larger ones.
        on_gpu = engine.embedder.device.type == "cuda"
        batcher = QueryBatcher(
            engine.embedder.embed_tensors,
            max_batch=self.settings.batch_max or (32 if on_gpu else 8),
            max_wait_s=self.settings.batch_wait_ms / 1000,
            max_queue=self.settings.queue_max,
        )
        return Serving(engine, batcher)

    @property
    def engine(self) -> Engine:
        return self.serving.engine

    # ---- ingest -------------------------------------------------------------------------
    def submit(self, sources: list[Source]) -> tuple[Job, list[Outcome]]:
        with self.write_lock:
            return self.queue.ingest(sources, kind="upload")

    async def ingest_now(
        self, sources: list[Source], gone: Callable[[], Awaitable[bool]] | None = None
    ) -> list[Outcome]:
        """Submit, wait for the batches, and answer each source's final outcome.

        The wait polls from the event loop, not from a thread: a slow worker must not hold
        the thread pool that every other route needs. When the client goes away the wait
        ends; the job carries on in the background.
        """
        if self._waiting >= self.settings.max_waiting_uploads:
            raise Overloaded(
                f"{self._waiting} uploads are already waiting for their results; "
                "retry in a moment, or send wait=false and follow the job."
            )
        self._waiting += 1
        try:
            job, outcomes = await run_in_threadpool(self.submit, sources)
            deadline = time.monotonic() + self.settings.upload_wait_s
            while time.monotonic() < deadline:
                job = await run_in_threadpool(self.queue.job, job.id)
                if job.status in FINAL or (gone is not None and await gone()):
                    break
                await asyncio.sleep(0.05)
            return await run_in_threadpool(self._final_outcomes, outcomes)
        finally:
            self._waiting -= 1

    def _final_outcomes(self, outcomes: list[Outcome]) -> list[Outcome]:
        self.serving.catalog.refresh()  # read-your-writes: searchable when we answer
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
        self.serving.batcher.start()
        loop = asyncio.get_running_loop()
        reconcile_s = self.queue.settings.reconcile_every_s
        self._loops = [
            loop.create_task(self._follow()),
            loop.create_task(self._every(reconcile_s, lambda: self.queue.reconcile())),
            loop.create_task(self._every(self.queue.settings.leader_ttl_s / 3, self._lead)),
            loop.create_task(self._every(self.settings.save_every_s, self.save_if_changed)),
            loop.create_task(self._every(self.settings.compact_every_s, self._compact)),
        ]

    def _lead(self) -> None:
        self.queue.renew_leadership()

    def _compact(self) -> None:
        if self.queue.leading:  # one replica compacts: concurrent compactions conflict
            compact(self.engine.store)

    async def _every(self, seconds: float, fn: Any) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await run_in_threadpool(fn)
            except Exception:
                log.exception("background task failed; trying again")

    async def _follow(self) -> None:
        """Keep the index caught up with the workers, and follow a switch of the active model."""
        while True:
            await asyncio.sleep(self.settings.refresh_every_s)
            try:
                active = await run_in_threadpool(self.engine.store.get_state, ACTIVE_MODEL)
                if active and active != self.serving.catalog.model_id:
                    await self.switch_to(active)
                else:
                    await run_in_threadpool(self.serving.catalog.refresh)
            except Exception:
                log.exception("following the catalog failed; trying again")

    async def switch_to(self, model_id: str) -> None:
        """Load the model and build its index while the old pair serves, then swap the pair."""
        old = self.serving
        settings = settings_for(old.engine.store, model_id, old.engine.embedder_settings)
        engine = Engine(settings, old.engine.index_settings, old.engine.settings)
        await run_in_threadpool(lambda: engine.catalog)
        new = self._serving(engine)
        new.batcher.start()
        self.serving = new
        self.queue.engine = engine
        log.warning("now serving %s (was %s)", model_id, old.catalog.model_id)
        # queries already in the old batcher finish with the old pair; an image search that
        # took the old pair but queues after this is refused (Switching), never waits
        # forever, and answers again with the new pair (api/routes/search.py)
        await old.batcher.drain()
        # uploads this API embedded with the old model until now lack the new one's vector
        await run_in_threadpool(reindex.backfill, self.queue, old.catalog.model_id, model_id)

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.serving.batcher.stop()
        await run_in_threadpool(self.close)

    def save_if_changed(self) -> None:
        """Save the served index when it moved since the last save: a restart, even after a
        crash, then loads it and catches up a little instead of rebuilding everything."""
        if not self.queue.leading:  # the leader's snapshots are the ones every replica loads
            return
        catalog = self.serving.catalog
        # a catalog that outgrew exact search gets its IVF index here, and saves it at once
        rebuilt = catalog.replan()
        if rebuilt or catalog.version != self._saved_version.get(catalog.model_id):
            catalog.save()
            self._saved_version[catalog.model_id] = catalog.version

    def close(self) -> None:
        self.queue.close()
        with self.write_lock:
            if self.queue.leading:
                catalog = self.serving.catalog
                catalog.refresh()
                catalog.save()
        self.queue.resign()


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
