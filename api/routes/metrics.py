"""Prometheus metrics of this API process, with the catalog's state read at scrape time."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from starlette.concurrency import run_in_threadpool

from api.services import Services, ServicesDep
from engine.metrics import QUERY_QUEUE_DEPTH

JOBS = Gauge("lookalike_jobs", "Jobs by state.", ["state"])
INDEX_VECTORS = Gauge("lookalike_index_vectors", "Vectors served.", ["model", "index_type"])
WORKERS_ALIVE = Gauge("lookalike_workers_alive", "Workers with a heartbeat in the last 30 s.")
LEADER = Gauge(
    "lookalike_leader", "1 when this API process leads the catalog's upkeep (snapshots)."
)
WORKER_BEAT_AGE = Gauge(
    "lookalike_worker_heartbeat_age_seconds", "Seconds since a worker's last beat.", ["worker"]
)

router = APIRouter(tags=["health"])


def _collect(services: Services) -> None:
    counts = services.engine.store.job_counts()
    for state in ("queued", "running", "done", "failed", "cancelled"):
        JOBS.labels(state).set(counts.get(state, 0))
    catalog = services.serving.catalog
    INDEX_VECTORS.clear()
    INDEX_VECTORS.labels(catalog.model_id, catalog.index.index_type).set(len(catalog.index))
    QUERY_QUEUE_DEPTH.set(services.serving.batcher.depth)
    LEADER.set(1 if services.queue.leading else 0)
    beats = services.queue.heartbeats()
    WORKERS_ALIVE.set(len(beats))
    WORKER_BEAT_AGE.clear()
    for name, beat in beats.items():
        WORKER_BEAT_AGE.labels(name).set(round(beat["age_s"], 3))


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Requests and latency per route, stage timings, batch sizes, queue depth, "
    "images embedded, jobs by state, index size and type, worker heartbeats. Each worker "
    "serves its own stage and batch metrics on its --metrics-port.",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
)
async def metrics(services: ServicesDep) -> Response:
    await run_in_threadpool(_collect, services)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
