"""A large catalog written straight to LanceDB, as a finished ingest would leave it.

Item rows and vectors go in by bulk appends of 10,000 rows (the product's upsert checks
each id against the table, which is right for uploads and far too slow for a million rows).
Vectors are the synthetic clustered ones of `bench.vectors`; ids look like the catalog's
(64 hex characters) and their FAISS label is the row number.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from bench.vectors import CHUNK, ClusteredVectors, row_ids
from embedder import EmbedderSettings
from engine.engine import remember_model
from index import ACTIVE_MODEL, Store


def populate(
    data_dir: Path, count: int, settings: EmbedderSettings, model_id: str, dim: int
) -> None:
    """`count` embedded items of `model_id`, made the active model."""
    store = Store(data_dir / "lancedb")
    embeddings = store.embeddings(model_id, dim)
    now = datetime.now(UTC)
    for number, vectors in enumerate(ClusteredVectors(dim).rows(count)):
        ids = row_ids(number * CHUNK, len(vectors))
        n = len(ids)
        items = {
            "id": ids,
            "client_key": [None] * n,
            "source": ["synthetic"] * n,
            "metadata_json": [json.dumps({"shard": i % 10}) for i in range(n)],
            "width": [None] * n,
            "height": [None] * n,
            "format": [None] * n,
            "size_bytes": [0] * n,
            "created_at": [now] * n,
            "status": ["embedded"] * n,
            "error": [None] * n,
        }
        store.items.add(pa.table(items, schema=store.items.schema))
        column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)
        rows = {"item_id": ids, "model_id": [model_id] * n, "vector": column}
        embeddings.add(pa.table(rows, schema=embeddings.schema))
    store.ensure_indexes()  # as a finished ingest's upkeep would
    remember_model(store, model_id, settings)
    store.set_state(ACTIVE_MODEL, model_id)
