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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.catalog import populate
from bench.common import forward_rate, image_sources
from bench.timing import percentiles
from embedder import Embedder, EmbedderSettings
from engine.engine import running_here
from engine.settings import EngineSettings
from index import Catalog, IndexSettings, Store
from workers.process import free_port

ROUNDS = 3  # the HTTP phases and the model-only figures alternate, so drift hits both


def run(model: str, weights: str, catalog: int, requests: int) -> dict[str, Any]:
    settings = EmbedderSettings(model=model, weights=weights, batch_size=32)
    embedder = running_here(Embedder.load(settings))  # as a server or worker would
    sources, _ = image_sources(None, 1)
    query = sources[0].read(EngineSettings())
    result: dict[str, Any] = {
        "model_id": embedder.model_id,
        "catalog": catalog,
        "device": str(embedder.device),
    }

    def model_only() -> float:
        """Seconds for the query image through decode, transform and a batch-1 forward."""
        start = time.perf_counter()
        embedder.embed_tensors([embedder.prepare(query).tensor])
        return time.perf_counter() - start

    for _ in range(3):
        model_only()  # warm-up
    vec = embedder.embed_bytes(query)
    rates = forward_rate(embedder, (1, 8, 32))
    best = max(rates, key=rates.__getitem__)
    result["best_batch"] = best
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
            measured = asyncio.run(
                _load(
                    url, query, requests, model_only, lambda: forward_rate(embedder, [best])[best]
                )
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    result.update(measured)
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


async def _load(
    url: str,
    query: bytes,
    requests: int,
    model_only: Callable[[], float],
    forward_best: Callable[[], float],
) -> dict[str, Any]:
    """HTTP figures at 1, 8 and 32 clients, and the model-only figures measured between them:
    each single query beside a model-only pass, each 32-client phase beside a forward-rate one."""
    samples: dict[int, list[float]] = {1: [], 8: [], 32: []}
    elapsed = dict.fromkeys(samples, 0.0)
    model_s: list[float] = []
    forward: list[float] = []
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
        per_round = max(1, requests // ROUNDS)
        for _ in range(ROUNDS):
            for _ in range(per_round):
                model_s.append(model_only())
                samples[1].append(await one())
                elapsed[1] += samples[1][-1]
            for clients in (8, 32):
                per_client = max(3, per_round // clients)  # past the first batch: steady state

                async def worker(
                    out: list[float] = samples[clients], count: int = per_client
                ) -> None:
                    for _ in range(count):
                        out.append(await one())

                start = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(clients)))
                elapsed[clients] += time.perf_counter() - start
            forward.append(forward_best())
    return {
        "http": {
            c: {**percentiles(s, 1000), "qps": len(s) / elapsed[c]} for c, s in samples.items()
        },
        "model_only_ms": statistics.median(model_s) * 1000,
        "forward_best_per_s": statistics.mean(forward),
    }


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
