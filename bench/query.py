"""Query latency over HTTP beside the model-only time, on a catalog of synthetic vectors.

The catalog's vectors are synthetic clustered ones written straight to LanceDB (the query
path's cost does not depend on how items got there), indexed as the product chooses for
its size; the query is a real image through a real `lookalike serve` process on loopback.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.catalog import populate
from bench.common import forward_rate, image_sources
from embedder import Embedder, EmbedderSettings
from index import Catalog, IndexSettings, Store
from workers.process import free_port


def _percentiles(samples: list[float]) -> dict[str, float]:
    qs = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": qs[49] * 1000, "p95": qs[94] * 1000, "p99": qs[98] * 1000}


def run(model: str, weights: str, catalog: int, requests: int) -> dict[str, Any]:
    settings = EmbedderSettings(model=model, weights=weights, batch_size=32)
    embedder = Embedder.load(settings)
    sources, _ = image_sources(None, 1)
    query = sources[0].read()
    result: dict[str, Any] = {
        "model_id": embedder.model_id,
        "catalog": catalog,
        "device": str(embedder.device),
    }

    # model only: decode + transform + batch-1 forward; then the index search on its own
    prepared = embedder.prepare(query)
    for _ in range(3):
        embedder.embed_tensors([prepared.tensor])
    t = []
    for _ in range(20):
        start = time.perf_counter()
        vec = embedder.embed_tensors([embedder.prepare(query).tensor])
        t.append(time.perf_counter() - start)
    result["model_only_ms"] = statistics.median(t) * 1000
    rates = forward_rate(embedder, (1, 8, 32))
    result["best_batch"] = max(rates, key=rates.__getitem__)
    result["forward_best_per_s"] = rates[result["best_batch"]]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        populate(data, catalog, settings, embedder.model_id, embedder.dim)
        # the index the server will load: built (and saved) once, here, as a first start would
        built = Catalog(
            Store(data / "lancedb"), embedder.model_id, embedder.dim, IndexSettings(data_dir=data)
        )
        built.save()
        result["index"] = built.index.plan.describe()
        t = []
        for _ in range(50):
            start = time.perf_counter()
            built.index.search(vec, 10)
            t.append(time.perf_counter() - start)
        result["search_only_ms"] = statistics.median(t) * 1000
        del built
        port = free_port()
        env = {**os.environ, "LOOKALIKE_DATA_DIR": str(data)}
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "lookalike"),
                "serve",
                "--inline",
                "--port",
                str(port),
                "--model",
                model,
                "--weights",
                weights,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url)
            result["http"] = asyncio.run(_load(url, query, requests))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    base = result["model_only_ms"] + result["search_only_ms"]
    result["single_p50_ratio"] = result["http"][1]["p50"] / base
    result["throughput_32_ratio"] = result["http"][32]["qps"] / result["forward_best_per_s"]
    return result


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the API did not become ready")


async def _load(url: str, query: bytes, requests: int) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    async with httpx.AsyncClient(
        base_url=url, timeout=120, limits=httpx.Limits(max_connections=64)
    ) as client:

        async def one() -> float:
            start = time.perf_counter()
            r = await client.post(
                "/v1/search/image", files=[("files", ("q.jpg", query))], data={"k": "10"}
            )
            r.raise_for_status()
            return time.perf_counter() - start

        for _ in range(3):
            await one()
        for clients in (1, 8, 32):
            samples: list[float] = []
            per_client = max(1, requests // clients)

            async def worker(samples: list[float] = samples, count: int = per_client) -> None:
                for _ in range(count):
                    samples.append(await one())

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(clients)))
            elapsed = time.perf_counter() - start
            out[clients] = {**_percentiles(samples), "qps": len(samples) / elapsed}
    return out


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = [
        {
            "figure": "model only: decode + batch-1 forward (ms)",
            "value": f"{result['model_only_ms']:.1f}",
        },
        {
            "figure": f"index search only, {result['catalog']:,} vectors, {result['index']} (ms)",
            "value": f"{result['search_only_ms']:.2f}",
        },
    ]
    for clients, stats in result["http"].items():
        out.append(
            {
                "figure": f"HTTP, {clients} client(s): p50 / p95 / p99 (ms)",
                "value": f"{stats['p50']:.0f} / {stats['p95']:.0f} / {stats['p99']:.0f}",
            }
        )
        out.append(
            {"figure": f"HTTP, {clients} client(s): queries/s", "value": f"{stats['qps']:.1f}"}
        )
    out.append(
        {
            "figure": "single-query p50 / (forward + search)",
            "value": f"{result['single_p50_ratio']:.2f}",
            "target": "<= 1.25",
        }
    )
    out.append(
        {
            "figure": f"model-only forward at best batch ({result['best_batch']}) (img/s)",
            "value": f"{result['forward_best_per_s']:.1f}",
        }
    )
    out.append(
        {
            "figure": "32-client queries/s / best-batch forward",
            "value": f"{result['throughput_32_ratio']:.2f}",
            "target": ">= 0.8",
        }
    )
    return out
