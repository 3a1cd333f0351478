"""`lookalike bench storage`: the catalog on object storage beside the local folder, in one
run. An S3 API on loopback (moto's server) stands for the bucket: it has none of a cloud
region's latency, so the figures show what the code adds (round trips, uploads), not the
network's share.

For each home: ingest of synthetic images in process (blobs written, embedded, vectors and
rows committed), single searches by an item's stored vector with their hit rows read
(each a LanceDB read), and a cold `lookalike serve` to /ready from an empty local folder
(with S3: the index snapshot downloaded, not rebuilt).
"""

from __future__ import annotations

import functools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.images import jpeg
from bench.s3 import S3Server, index_settings
from bench.server import SMALL_MODEL, ServeProcess
from bench.timing import timed_ms
from embedder import EmbedderSettings
from engine import Engine, Source
from workers.queue import LocalQueue
from workers.settings import WorkerSettings

QUERIES = 50
INPUT = 64  # small inputs: the figures are about storage, not the model


def _measure(env: dict[str, str], folder: Path, images: list[bytes]) -> dict[str, float]:
    embedder = EmbedderSettings(model="resnet18", weights="none", device="cpu", input_size=INPUT)
    engine = Engine(embedder, index_settings(env, folder / "host-a"))
    queue = LocalQueue(engine, WorkerSettings(job_batch_size=32))
    try:
        began = time.perf_counter()
        job, _ = queue.ingest([Source(uri=f"mem:{i}", data=d) for i, d in enumerate(images)])
        done = queue.wait(job.id, timeout=600)
        ingest_s = time.perf_counter() - began
        assert done.done == len(images), done
    finally:
        queue.close()
    catalog = engine.catalog
    ids = sorted(catalog.index.item_ids)[:QUERIES]
    vectors = catalog.vectors_of(ids)
    times = [timed_ms(functools.partial(catalog.search, vectors[i][None], 10)) for i in ids]
    catalog.save()
    began = time.perf_counter()
    server = ServeProcess(
        folder / "host-b", env={**env, "LOOKALIKE_INPUT_SIZE": str(INPUT)}, model=SMALL_MODEL
    )
    cold_s = time.perf_counter() - began
    server.stop()
    return {
        "ingest_img_s": len(images) / ingest_s,
        "query_p50_ms": statistics.median(times),
        "cold_start_s": cold_s,
    }


def run(count: int = 256) -> dict[str, Any]:
    images = [jpeg(i) for i in range(count)]
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-storage-") as tmp:
        root = Path(tmp)
        s3 = S3Server(root / "moto.log")
        try:
            local = _measure({"LOOKALIKE_DATA_URI": str(root / "local")}, root / "l", images)
            remote = _measure(s3.env(s3.bucket("lookalike-bench") + "/catalog"), root / "s", images)
        finally:
            s3.stop()
    return {"count": count, "local": local, "s3": remote}


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    local, s3 = result["local"], result["s3"]
    names = {
        "ingest_img_s": f"ingest of {result['count']} images in process (img/s)",
        "query_p50_ms": f"single search + hit rows, p50 of {QUERIES} (ms)",
        "cold_start_s": "cold serve to /ready, empty local folder (s)",
    }
    out: list[dict[str, Any]] = []
    for key, name in names.items():
        out.append({"figure": f"{name}: local folder", "value": round(local[key], 1)})
        out.append({"figure": f"{name}: S3 on loopback", "value": round(s3[key], 1)})
        out.append({"figure": f"{name}: S3 / local", "value": round(s3[key] / local[key], 2)})
    return out
