"""`lookalike bench filter`: filtered search on an approximate index, by selectivity.

A catalog of synthetic clustered vectors (an item row each, whose metadata carries one key
per selectivity) is held by the index the plan picks for its size; each query is answered
with no filter and with filters matching 10%, 1%, 0.1% of the items and exactly 2. Per
filter: p50 and p95 latency, the fewest hits any query got (it must be min(k, matching)),
and recall@k against the exact filtered answer (brute force over the matching vectors).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from bench.catalog import item_rows
from bench.vectors import CHUNK, ClusteredVectors, row_ids
from index import Catalog, IndexSettings, MetadataFilter, Store

MODEL = "resnet18.none.gem.512"
DIM = 512
K = 10
QUERIES = 30
# metadata key -> how many items in how many carry the value 1
FILTERS = {"p10": 10, "p1": 100, "p01": 1000}


def _metadata(n: int, count: int) -> str:
    # string facets, as a shop's colour or brand: the values the metadata screen can read
    keys = {key: "yes" if n % every == 0 else "no" for key, every in FILTERS.items()}
    keys["two"] = "yes" if n in (count // 3, 2 * count // 3) else "no"
    return json.dumps(keys, sort_keys=True)


def _fill(data: Path, count: int, gen: ClusteredVectors) -> np.ndarray:
    store = Store(data / "lancedb")
    table = store.embeddings(MODEL, DIM)
    now = datetime.now(UTC)
    parts = []
    for number, vectors in enumerate(gen.rows(count)):
        first = number * CHUNK
        ids = row_ids(first, len(vectors))
        n = len(ids)
        metadata = [_metadata(first + i, count) for i in range(n)]
        store.items.add(item_rows(store, ids, metadata, [now] * n))
        column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), DIM)
        table.add(pa.table({"item_id": ids, "model_id": [MODEL] * n, "vector": column}))
        parts.append(vectors)
    store.compact()
    return np.concatenate(parts)


def run(count: int, queries_per_filter: int = QUERIES) -> dict[str, Any]:
    gen = ClusteredVectors(DIM)
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-filter-") as tmp:
        data = Path(tmp)
        began = time.perf_counter()
        matrix = _fill(data, count, gen)
        settings = IndexSettings(data_dir=data, use_gpu="never")
        catalog = Catalog(Store(data / "lancedb"), MODEL, DIM, settings)
        build_s = time.perf_counter() - began
        queries = gen.queries(queries_per_filter)
        numbers = np.arange(count)
        members = {key: numbers % every == 0 for key, every in FILTERS.items()}
        members["two"] = np.isin(numbers, [count // 3, 2 * count // 3])
        out: dict[str, Any] = {"count": count, "plan": catalog.index.plan.describe()}
        out["build_s"] = round(build_s, 1)
        rows: dict[str, Any] = {}
        for key in (None, *members):
            where = MetadataFilter.parse({key: "yes"}) if key else None
            mask = members[key] if key else np.ones(count, bool)
            times, fewest, recalls = [], K, []
            for q in queries:
                began = time.perf_counter()
                hits = catalog.search(q, K, where=where)[0]
                times.append((time.perf_counter() - began) * 1000)
                fewest = min(fewest, len(hits))
                exact = np.flatnonzero(mask)[np.argsort(-(matrix[mask] @ q))[:K]]
                truth = {row_ids(int(i), 1)[0] for i in exact}
                recalls.append(len(truth & {h.item.id for h in hits}) / max(1, len(truth)))
            rows[key or "none"] = {
                "matching": int(mask.sum()),
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(float(np.percentile(times, 95)), 1),
                "fewest_hits": fewest,
                "recall": round(float(np.mean(recalls)), 3),
            }
        out["filters"] = rows
        return out


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = [{"figure": f"{result['count']:,} vectors, {result['plan']}", "value": ""}]
    base = result["filters"]["none"]["p50_ms"]
    for name, f in result["filters"].items():
        out.append(
            {
                "figure": f"filter {name} ({f['matching']:,} match): p50 / p95 ms, "
                f"{f['p50_ms'] / base:.1f}x unfiltered p50",
                "value": f"{f['p50_ms']} / {f['p95_ms']}",
            }
        )
        out.append(
            {
                "figure": "  fewest hits of 10 / recall@10 vs exact filtered",
                "value": f"{f['fewest_hits']} / {f['recall']}",
                "target": "min(10, matching) / >= 0.95",
            }
        )
    return out
