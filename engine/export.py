"""The catalog out: every item's id, key, status, metadata and its vector under the active
model, streamed a page at a time (memory holds one page, whatever the catalog holds) to
Parquet or JSON lines."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from embedder import ModelSpec
from engine.engine import Engine
from engine.errors import EngineError

PAGE = 1000
Format = Literal["parquet", "jsonl"]


def _schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            ("id", pa.string()),
            ("client_key", pa.string()),
            ("product", pa.string()),
            ("status", pa.string()),
            ("metadata_json", pa.string()),
            ("model_id", pa.string()),
            ("vector", pa.list_(pa.float32(), dim)),
        ]
    )


def pages(engine: Engine) -> Iterator[pa.RecordBatch]:
    """The catalog in pages of PAGE items, oldest first, each with its vectors read by id."""
    model_id = engine.active_model_id
    if model_id is None:
        raise EngineError("The catalog is empty; there is nothing to export.")
    dim = ModelSpec.parse(model_id).dim
    schema = _schema(dim)
    after = None
    while True:
        items, more = engine.store.list_page(PAGE, after)
        if not items:
            return
        ids, vectors = engine.store.read_vectors(model_id, dim, [i.id for i in items])
        by_id = dict(zip(ids, vectors, strict=True))
        column = [by_id.get(i.id) for i in items]
        flat = np.stack([v if v is not None else np.zeros(dim, np.float32) for v in column])
        vector = pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel(), pa.float32()), dim)
        present = pa.array([v is not None for v in column])
        vector = pc.if_else(present, vector, pa.nulls(len(items), vector.type))
        yield pa.RecordBatch.from_arrays(
            [
                pa.array([i.id for i in items]),
                pa.array([i.client_key for i in items], pa.string()),
                pa.array([i.product for i in items], pa.string()),
                pa.array([i.status for i in items]),
                pa.array([i.metadata_json for i in items]),
                pa.array([model_id if v is not None else None for v in column], pa.string()),
                vector,
            ],
            schema=schema,
        )
        if not more:
            return
        after = (items[-1].created_at, items[-1].id)


def export_catalog(
    engine: Engine, path: Path, fmt: Format, progress: Callable[[int], None] | None = None
) -> int:
    """Write the catalog to `path`; returns the items written. `progress` hears each page."""
    import pyarrow.parquet as pq

    written = 0
    tmp = path.with_name(f".{path.name}.part")  # a reader never sees half an export
    writer: pq.ParquetWriter | None = None
    try:
        with tmp.open("wb") as out:
            for batch in pages(engine):
                if fmt == "parquet":
                    writer = writer or pq.ParquetWriter(out, batch.schema)
                    writer.write_batch(batch)
                else:
                    for row in batch.to_pylist():
                        meta = json.loads(row.pop("metadata_json") or "{}")
                        out.write((json.dumps({**row, "metadata": meta}) + "\n").encode())
                written += batch.num_rows
                if progress is not None:
                    progress(batch.num_rows)
            if writer is not None:
                writer.close()
            elif fmt == "parquet":  # no items: still a Parquet file, with the columns
                dim = ModelSpec.parse(engine.active_model_id or "").dim
                pq.write_table(_schema(dim).empty_table(), out)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return written
