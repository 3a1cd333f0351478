"""`lookalike bench catchup`: how long a reader's refresh takes over a large catalog while
another writer adds rows, by the incremental path (the rows written since the version it
covers) beside the rescan of every id it replaced, in one run.

A synthetic catalog (clustered vectors, an item row each) is written straight to LanceDB;
the reader holds it in an exact index (the index kind does not change what a catch-up reads);
a second store, as a worker would, adds 50 vectors at a time.
"""

from __future__ import annotations

import functools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.catalog import populate
from bench.timing import timed_ms
from bench.vectors import ClusteredVectors, row_ids
from embedder import EmbedderSettings
from index import Catalog, IndexSettings, Store

MODEL = "resnet18.none.gem.512"
DIM = 512
ROUNDS = 10
NEW_ROWS = 50


def run(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-catchup-") as tmp:
        data = Path(tmp)
        began = time.perf_counter()
        settings = EmbedderSettings(model="resnet18", weights="none", device="cpu")
        populate(data, count, settings, MODEL, DIM)
        write_s = time.perf_counter() - began
        began = time.perf_counter()
        index_settings = IndexSettings(data_dir=data, use_gpu="never", exact_max=count + 10**6)
        catalog = Catalog(Store(data / "lancedb"), MODEL, DIM, index_settings)
        build_s = time.perf_counter() - began
        writer = Store(data / "lancedb")  # a worker's own connection
        extra = ClusteredVectors(DIM, seed=1)
        nothing = [timed_ms(catalog.refresh) for _ in range(ROUNDS)]
        incremental: list[float] = []
        rescan: list[float] = []
        for n in range(ROUNDS):
            for times, full in ((incremental, False), (rescan, True)):
                batch = 2 * n + full
                new_ids = row_ids(count + batch * NEW_ROWS, NEW_ROWS)
                writer.add_embeddings(MODEL, new_ids, extra.chunk(batch, NEW_ROWS))
                times.append(timed_ms(functools.partial(catalog.refresh, rescan=full)))
        assert len(catalog.index) == count + 2 * ROUNDS * NEW_ROWS  # every row is held
        return {
            "count": count,
            "write_s": round(write_s, 1),
            "build_s": round(build_s, 1),
            "nothing_new_ms": round(statistics.median(nothing), 2),
            "incremental_ms": round(statistics.median(incremental), 1),
            "rescan_ms": round(statistics.median(rescan), 1),
            "catch_ups": dict(catalog.catch_ups),
        }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    inc, full = result["incremental_ms"], result["rescan_ms"]
    return [
        {"figure": f"{result['count']:,} vectors written (s)", "value": result["write_s"]},
        {"figure": "reader's index built (s)", "value": result["build_s"]},
        {
            "figure": "refresh, nothing new (ms)",
            "value": result["nothing_new_ms"],
            "target": "<= 2",
        },
        {
            "figure": f"refresh folding in {NEW_ROWS} new rows (ms)",
            "value": inc,
            "target": "<= 20",
        },
        {
            "figure": f"the same by rescanning every id (ms), {full / inc:.0f}x the time",
            "value": full,
        },
    ]
