"""Prometheus metrics shared by the API and the workers (each process exports its own)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram

from embedder import Prepared
from index import Store

STAGE_SECONDS = Histogram(
    "lookalike_stage_seconds",
    "Time per pipeline stage: decode, preprocess, forward, index_search, store.",
    ["stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_SIZE = Histogram(
    "lookalike_forward_batch_size",
    "Images per forward pass.",
    ["path"],  # query (API micro-batches) or ingest
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
IMAGES_EMBEDDED = Counter(
    "lookalike_images_embedded_total", "Catalog images embedded; rate() gives images/s.", ["model"]
)
IMAGES_FAILED = Counter("lookalike_images_failed_total", "Catalog images that failed.")
QUERY_QUEUE_DEPTH = Gauge("lookalike_query_queue_depth", "Query images waiting for a forward.")


@contextmanager
def timed(stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        STAGE_SECONDS.labels(stage).observe(time.perf_counter() - start)


def observe_prepared(prepared: Prepared) -> None:
    STAGE_SECONDS.labels("decode").observe(prepared.decode_s)
    STAGE_SECONDS.labels("preprocess").observe(prepared.preprocess_s)


UPKEEP_FAILURES = Counter(
    "lookalike_upkeep_failures_total",
    "LanceDB upkeep that failed (compaction, id indexes); logged with the reason.",
    ["task"],
)


def compact(store: Store) -> None:
    """Compact the store's tables, counting what failed (Store.compact logs why)."""
    for task in store.compact():
        UPKEEP_FAILURES.labels(task).inc()
