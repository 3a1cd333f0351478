"""`lookalike bench replicas`: image searches from 32 clients against one API process, then
against two replicas over the same store and Redis (the clients take turns between them),
in one run. On a machine whose cores the model already fills, a second replica can only
share them; on a larger host each replica brings its own model and FAISS searches.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.images import jpeg
from bench.server import SMALL_MODEL, ServeProcess
from bench.timing import percentiles
from embedder import EmbedderSettings
from engine import Engine, Source
from index import IndexSettings
from workers.process import start_worker, stop_worker
from workers.queue import LocalQueue
from workers.redis_server import EmbeddedRedis
from workers.settings import WorkerSettings

CLIENTS = 32
CATALOG = 200


async def _phase(urls: list[str], seconds: float) -> dict[str, float]:
    """32 clients for `seconds`, client n on urls[n % len(urls)]: queries/s and p50/p95."""
    query = jpeg(10_001)
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=CLIENTS * 2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:

        async def client(n: int) -> None:
            url = urls[n % len(urls)] + "/v1/search/image"
            while time.monotonic() < stop:
                began = time.perf_counter()
                answer = await http.post(url, files=[("files", ("q.jpg", query))])
                answer.raise_for_status()
                latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(client(n) for n in range(CLIENTS)))
        elapsed = time.perf_counter() - began
    spread = percentiles(latencies, 1000)
    return {"qps": len(latencies) / elapsed, "p50_ms": spread["p50"], "p95_ms": spread["p95"]}


def run(seconds: float = 20.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-replicas-") as tmp:
        root = Path(tmp)
        data = root / "data"
        embedder = EmbedderSettings(model="resnet18", weights="none", device="cpu")
        engine = Engine(embedder, IndexSettings(data_dir=data, use_gpu="never"))
        queue = LocalQueue(engine, WorkerSettings())
        try:
            job, _ = queue.ingest([Source(uri=f"m{i}", data=jpeg(i)) for i in range(CATALOG)])
            queue.wait(job.id, timeout=600)
        finally:
            queue.close()
        redis = EmbeddedRedis(root / "redis").start()
        worker = start_worker(redis.url, data, log=root / "worker.log")  # /ready wants one
        model = [*SMALL_MODEL, "--workers", "0", "--redis-url", redis.url]
        servers: list[ServeProcess] = []
        try:
            servers.append(ServeProcess(data, model=model))
            one = asyncio.run(_phase([servers[0].url], seconds))
            servers.append(ServeProcess(data, model=model))
            two = asyncio.run(_phase([s.url for s in servers], seconds))
        finally:
            for srv in servers:
                srv.stop()
            stop_worker(worker)
            redis.stop()
    return {"seconds": seconds, "one": one, "two": two}


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    one, two = result["one"], result["two"]
    return [
        {"figure": f"one API process, {CLIENTS} clients: queries/s", "value": round(one["qps"], 1)},
        {"figure": "  p50 / p95 (ms)", "value": f"{one['p50_ms']:.0f} / {one['p95_ms']:.0f}"},
        {"figure": f"two replicas, {CLIENTS} clients: queries/s", "value": round(two["qps"], 1)},
        {"figure": "  p50 / p95 (ms)", "value": f"{two['p50_ms']:.0f} / {two['p95_ms']:.0f}"},
        {"figure": "two / one, queries/s", "value": round(two["qps"] / one["qps"], 2)},
    ]
