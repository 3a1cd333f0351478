"""The FastAPI application: wiring of settings, services, routes, limits and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from api.access import AccessControl
from api.errors import install_error_handlers
from api.keys import KeyRing
from api.limits import BodySizeLimit
from api.observe import Observe
from api.openapi import install_openapi
from api.ratelimit import SharedRateLimiter
from api.routes import (
    backups,
    drift,
    duplicates,
    health,
    ingest,
    items,
    jobs,
    keys,
    metrics,
    reindex,
    search,
    session,
)
from api.security import SecurityHeaders, install_docs
from api.services import Services
from api.settings import ApiSettings
from engine import Engine
from workers.queue import JobQueue, LocalQueue
from workers.settings import WorkerSettings

STATIC = Path(__file__).parent / "static"


def create_app(
    engine: Engine, settings: ApiSettings | None = None, queue: JobQueue | None = None
) -> FastAPI:
    """The app; without a queue, ingest batches run in a thread of this process."""
    # the app's entry point: settings not given are read here, once, and passed down
    settings = settings or ApiSettings()
    local = WorkerSettings()  # for the queue of this process's own threads, when none is given
    keyring = KeyRing(engine.store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Open the catalog before the first request: the model check and index load happen here.
        await run_in_threadpool(lambda: engine.catalog)
        # a local queue per start: stopping the app closes its thread pool
        jobs = queue if queue is not None else LocalQueue(engine, local)
        # id indexes for a catalog that grew since the last start (once; then the upkeep
        # loop), made by the one replica that leads the upkeep
        if await run_in_threadpool(jobs.renew_leadership):
            await run_in_threadpool(engine.store.ensure_indexes)
        services = Services(engine, settings, jobs, keyring)
        services.start()
        app.state.services = services
        try:
            yield
        finally:
            await services.stop()  # finishes local batches, saves the index

    app = FastAPI(
        title="Lookalike",
        version="0.1.0",
        summary="Visual similarity search: upload a catalog, ask what looks like this.",
        lifespan=lifespan,
        docs_url=None,  # served from packaged assets below, not from a CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        max_json_bytes=settings.max_json_bytes,
        body_timeout_s=settings.body_timeout_s,
    )
    # Added after the body limit, so it runs first: a stranger's body is never read.
    app.add_middleware(
        AccessControl,
        api=app,
        keys=keyring,
        default_rate_per_s=settings.rate_limit_per_s,
        auth_failures_per_s=settings.auth_failures_per_s,
        # buckets in Redis when there is one: a key's limit holds across API replicas
        limiter=SharedRateLimiter(queue.redis) if queue is not None and queue.redis else None,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    routers = [health, metrics, items, ingest, search, duplicates, jobs, reindex, keys, drift]
    routers += [backups, session]
    for module in routers:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_docs(app)

    app.add_middleware(Observe, api=app)  # ids and metrics for every answer
    app.add_middleware(SecurityHeaders)  # outermost: every answer carries them, errors too
    install_openapi(app, settings)

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text())

    return app
