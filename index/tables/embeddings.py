"""One embeddings table per model id: (item_id, model_id, vector), written once per item."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from index.schemas import embedding_schema
from index.tables.base import Tables, chunked, embeddings_table_name, keyed_rows, sql_in

if TYPE_CHECKING:
    from lancedb.table import Table


# Stable row ids make LanceDB keep, for every row, the table version that wrote it (and
# keep it through compaction), so a reader can ask for the rows written since the version it
# covers. It can only be chosen when a table is made: a table made before, without it, is
# caught up by rescanning its ids. Which tables have it is a state row.
STABLE_ROW_IDS = {"new_table_enable_stable_row_ids": "true"}
ROW_VERSIONS = "row_versions:"


class EmbeddingRows(Tables):
    # per table, whether it tracks the version of each row: asked once per store, as the
    # answer never changes for a table (the refresh loop would ask every half second)
    _row_versions: dict[str, bool] | None = None

    def embeddings(self, model_id: str, dim: int) -> Table:
        """The model's table; one handle per table for the life of the store (a handle per
        call made the server's memory climb with every request)."""
        name = embeddings_table_name(model_id)
        table = self._tables.get(name)
        if table is None:
            new = name not in self._table_names()
            table = self._open_or_create(
                name, embedding_schema(dim), "item_id", storage_options=STABLE_ROW_IDS
            )
            if new:
                self.set_state(ROW_VERSIONS + name, "1")
            self._tables[name] = table
        return table

    def tracks_row_versions(self, model_id: str) -> bool:
        """Whether `vectors_since` can answer for this model's table."""
        known = self._row_versions = self._row_versions or {}
        name = embeddings_table_name(model_id)
        if name not in known:
            known[name] = self.get_state(ROW_VERSIONS + name) is not None
        return known[name]

    def vectors_since(self, model_id: str, dim: int, version: int) -> tuple[list[str], np.ndarray]:
        """The rows written after table version `version` (only for a table that
        `tracks_row_versions`): what a reader that covers `version` has not seen."""
        query = (
            self.embeddings(model_id, dim)
            .search()
            .where(f"_row_created_at_version > {int(version)}")
            .select(["item_id", "vector"])
            .limit(None)
        )
        return _ids_and_vectors([query.to_arrow()], dim)

    def add_embeddings(self, model_id: str, item_ids: Sequence[str], vectors: np.ndarray) -> None:
        """Write a batch of vectors in one LanceDB write; an id already there is left alone."""
        if not item_ids:
            return
        table = self.embeddings(model_id, int(vectors.shape[1]))
        schema = table.schema
        rows = pa.table(
            {
                "item_id": pa.array(item_ids, pa.string()),
                "model_id": pa.array([model_id] * len(item_ids), pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(
                    pa.array(np.ascontiguousarray(vectors, np.float32).ravel()),
                    list_size=int(vectors.shape[1]),
                ).cast(schema.field("vector").type),
            }
        )
        merge = table.merge_insert("item_id").when_not_matched_insert_all()
        merge.execute(keyed_rows(table, "item_id", rows))

    def delete_embeddings(self, model_id: str, item_ids: Sequence[str]) -> None:
        """Drop vectors of one model (written for items deleted while they were embedded)."""
        name = embeddings_table_name(model_id)
        if name in self._tables or name in self._table_names():
            for chunk in chunked(list(item_ids)):
                self._open(name).delete(sql_in("item_id", chunk))

    def embedded_ids(self, model_id: str, dim: int, among: Sequence[str] | None = None) -> set[str]:
        if among is None:
            return set(self.embedded_id_column(model_id, dim).to_pylist())
        table = self.embeddings(model_id, dim)
        found: set[str] = set()
        for chunk in chunked(list(among)):
            q = table.search().where(sql_in("item_id", chunk)).select(["item_id"]).limit(None)
            found.update(q.to_arrow().column("item_id").to_pylist())
        return found

    def embedded_id_column(self, model_id: str, dim: int) -> pa.Array:
        """Every item id with a vector of this model, as one Arrow string array (no Python
        strings: a million of them took most of an index catch-up)."""
        q = self.embeddings(model_id, dim).search().select(["item_id"]).limit(None)
        return q.to_arrow().column("item_id").combine_chunks()

    def read_vectors(
        self, model_id: str, dim: int, ids: Sequence[str] | None = None
    ) -> tuple[list[str], np.ndarray]:
        table = self.embeddings(model_id, dim)
        if ids is None:
            tables = [table.search().select(["item_id", "vector"]).limit(None).to_arrow()]
        else:
            tables = [
                table.search()
                .where(sql_in("item_id", c))
                .select(["item_id", "vector"])
                .limit(None)
                .to_arrow()
                for c in chunked(list(ids))
            ]
        return _ids_and_vectors(tables, dim)

    def iter_vectors(
        self, model_id: str, dim: int, batch_rows: int = 32_768
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """Every (ids, vectors) of the model in batches: a million 2048-d vectors are 8 GiB,
        so an index build streams them instead of reading them whole."""
        query = self.embeddings(model_id, dim).search().select(["item_id", "vector"]).limit(None)
        for batch in query.to_batches(batch_rows):
            if batch.num_rows == 0:
                continue
            flat = batch.column("vector").flatten().to_numpy(zero_copy_only=False)
            vectors = np.ascontiguousarray(flat.reshape(batch.num_rows, dim), dtype=np.float32)
            yield batch.column("item_id").to_pylist(), vectors

    def embeddings_version(self, model_id: str, dim: int) -> int:
        return int(self.embeddings(model_id, dim).version)

    def embeddings_count(self, model_id: str, dim: int) -> int:
        return int(self.embeddings(model_id, dim).count_rows())


def _ids_and_vectors(tables: Sequence[pa.Table], dim: int) -> tuple[list[str], np.ndarray]:
    out_ids: list[str] = []
    parts: list[np.ndarray] = []
    for t in tables:
        if t.num_rows == 0:
            continue
        out_ids.extend(t.column("item_id").to_pylist())
        flat = t.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        parts.append(flat.reshape(t.num_rows, dim))
    vectors = np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)
    return out_ids, np.ascontiguousarray(vectors, dtype=np.float32)
