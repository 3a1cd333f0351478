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
from typing import Any

import pyarrow as pa

from bench.vectors import CHUNK, ClusteredVectors, row_ids
from embedder import EmbedderSettings
from engine.engine import remember_model
from index import ACTIVE_MODEL, Store


def item_rows(
    store: Store,
    ids: list[str],
    metadata_json: list[str],
    created_at: list[datetime],
    **columns: Any,
) -> pa.Table:
    """Item rows as a finished ingest leaves them (embedded, no image facts), for a bulk
    append; `columns` replace any of the rest (e.g. `status`)."""
    n = len(ids)
    rows: dict[str, list[Any]] = {
        "id": ids,
        "client_key": [None] * n,
        "product": [None] * n,
        "source": ["synthetic"] * n,
        "metadata_json": metadata_json,
        "width": [None] * n,
        "height": [None] * n,
        "format": [None] * n,
        "size_bytes": [0] * n,
        "created_at": created_at,
        "status": ["embedded"] * n,
        "error": [None] * n,
    }
    return pa.table({**rows, **columns}, schema=store.items.schema)


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
        metadata = [json.dumps({"shard": i % 10}) for i in range(n)]
        store.items.add(item_rows(store, ids, metadata, [now] * n))
        column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)
        rows = {"item_id": ids, "model_id": [model_id] * n, "vector": column}
        embeddings.add(pa.table(rows, schema=embeddings.schema))
    store.ensure_indexes()  # as a finished ingest's upkeep would
    remember_model(store, model_id, settings)
    store.set_state(ACTIVE_MODEL, model_id)
