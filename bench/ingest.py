"""Ingest throughput beside the model's own forward throughput, in one run.

Three figures on the same images, model and device:
- model only: preprocessed tensors through the network, at the best batch size;
- in process: `lookalike ingest` (read, hash, decode, transform, forward, LanceDB, FAISS);
- through workers: the API's path (register, Redis, a Celery worker process, LanceDB).

The sweep that picks the best batch size runs first; each ingest figure is then divided by
the model-only rate at that size measured just before and just after it (their mean), so a
machine that speeds up or slows down during the run moves both sides of the ratio.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import forward_rate, image_sources
from embedder import Embedder, EmbedderSettings
from engine import Engine, ingest
from engine.engine import running_here
from index import IndexSettings


def run(
    model: str, weights: str, images: Path | None, limit: int, batch_size: int, workers: bool = True
) -> dict[str, Any]:
    sources, described = image_sources(images, limit)
    settings = EmbedderSettings(model=model, weights=weights, batch_size=batch_size)
    embedder = running_here(Embedder.load(settings))  # as a server or worker would
    rates = forward_rate(embedder, sorted({1, 8, batch_size}))
    best_bs = max(rates, key=rates.__getitem__)

    def forward_now() -> float:
        return forward_rate(embedder, [best_bs])[best_bs]

    # Ingest runs at the batch size the model is fastest at, as an operator would set it.
    settings = settings.model_copy(update={"batch_size": best_bs})
    embedder.settings = settings
    result: dict[str, Any] = {
        "model_id": embedder.model_id,
        "device": str(embedder.device),
        "images": described,
        "forward_images_per_s": rates,
        "best_batch": best_bs,
    }
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(settings, IndexSettings(data_dir=Path(tmp) / "inline"), embedder=embedder)
        before = forward_now()
        report = ingest(engine, sources)
        after = forward_now()
        result["inline_images_per_s"] = report.images_per_second
        result["inline_forward_per_s"] = (before + after) / 2
        if workers:
            result["worker_images_per_s"] = _through_workers(
                settings, Path(tmp) / "queued", sources
            )
            result["worker_forward_per_s"] = (after + forward_now()) / 2
    result["inline_ratio"] = result["inline_images_per_s"] / result["inline_forward_per_s"]
    if workers:
        result["worker_ratio"] = result["worker_images_per_s"] / result["worker_forward_per_s"]
    return result


def _through_workers(settings: EmbedderSettings, data_dir: Path, sources: list[Any]) -> float:
    from workers.process import start_worker, stop_worker
    from workers.queue import CeleryQueue
    from workers.redis_server import EmbeddedRedis
    from workers.settings import WorkerSettings

    redis = EmbeddedRedis(data_dir / "redis").start()
    env = {"LOOKALIKE_DEVICE": settings.device, "LOOKALIKE_BATCH_SIZE": str(settings.batch_size)}
    worker = start_worker(redis.url, data_dir, env=env, log=data_dir / "worker.log")
    try:
        engine = Engine(settings, IndexSettings(data_dir=data_dir))
        queue = CeleryQueue(
            engine,
            WorkerSettings(
                redis_url=redis.url, job_batch_size=max(64, 4 * (settings.batch_size or 32))
            ),
        )
        # Warm the worker (model load) on one image, so the figure is steady-state throughput.
        warm, _ = queue.ingest(sources[:1])
        queue.wait(warm.id, timeout=600)
        start = time.perf_counter()
        job, _ = queue.ingest(sources[1:])
        job = queue.wait(job.id, timeout=3600)
        return (job.done + job.failed) / (time.perf_counter() - start)
    finally:
        stop_worker(worker)
        redis.stop()


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    best = result["best_batch"]
    out = [
        {"figure": f"model-only forward, batch {bs} (img/s)", "value": f"{r:.1f}"}
        for bs, r in result["forward_images_per_s"].items()
    ]
    out.append(
        {
            "figure": f"ingest in process, batch {best} (img/s)",
            "value": f"{result['inline_images_per_s']:.1f}",
        }
    )
    out.append(
        {
            "figure": f"  model-only forward at batch {best}, before and after (img/s)",
            "value": f"{result['inline_forward_per_s']:.1f}",
        }
    )
    out.append(
        {
            "figure": f"  ratio to forward at batch {best}",
            "value": f"{result['inline_ratio']:.2f}",
            "target": ">= 0.9",
        }
    )
    if "worker_images_per_s" in result:
        out.append(
            {
                "figure": f"ingest through Redis + worker, batch {best} (img/s)",
                "value": f"{result['worker_images_per_s']:.1f}",
            }
        )
        out.append(
            {
                "figure": f"  model-only forward at batch {best}, before and after (img/s)",
                "value": f"{result['worker_forward_per_s']:.1f}",
            }
        )
        out.append(
            {
                "figure": f"  ratio to forward at batch {best}",
                "value": f"{result['worker_ratio']:.2f}",
                "target": ">= 0.9",
            }
        )
    return out
